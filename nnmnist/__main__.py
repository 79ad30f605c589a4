from nnmnist.cli import main

main()
