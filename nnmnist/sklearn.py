"""A scikit-learn estimator on nnmnist's own networks and trainer.

    >>> from nnmnist.sklearn import MNISTClassifier
    >>> from nnmnist import datasets
    >>> X, y = datasets.test()
    >>> clf = MNISTClassifier((64,), epochs=5, learning_rate=3e-3).fit(X[:2000], y[:2000])
    >>> clf.score(X[5000:6000], y[5000:6000]) > 0.85
    True

fit trains through the same Trainer as `nnmnist train` (one seeded generator: the same data
and random_state give the same weights, bit for bit), or fine-tunes a shipped model or weight
file (start_from) as `nnmnist train --from` does. X holds pixel values 0..pixel_scale (255 for
MNIST); any number of features works for an MLP, 784 (28x28) for a layer spec (arch).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from nnmnist.core.network import N_CLASSES, N_INPUTS, Network, forward

__all__ = ["MNISTClassifier"]


class MNISTClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A from-scratch NumPy network (MLP or ConvNet) as a scikit-learn classifier.

    Parameters
    ----------
    hidden_layer_sizes : the MLP's hidden layers (ignored with arch).
    arch : a layer spec such as "conv30k5-relu-pool2-affine100-relu-affine10" (784 features).
    activation, optimizer, learning_rate, batch_size, epochs, weight_decay, augment :
        as `nnmnist train` takes them (--activation, --optimizer, --lr, ...).
    validation_size : rows held out to pick the best epoch (0: the last epoch is kept).
    start_from : fine-tune from a shipped model's name or a weight file instead of starting
        from random weights (labels must then be the digits 0-9).
    pixel_scale : the value of full ink in X (255 for MNIST's pixels, 16 for load_digits').
    random_state : the seed of the one generator behind the split, the weights and shuffles.

    Attributes
    ----------
    classes_ : (n_classes,) the labels seen in fit.
    network_ : the trained nnmnist Network.
    loss_curve_ : the training loss of each epoch.
    n_features_in_ : the number of features seen in fit.
    """

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (256, 128),
        *,
        arch: str | None = None,
        activation: str = "relu",
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        batch_size: int = 128,
        epochs: int = 10,
        weight_decay: float = 0.0,
        augment: int = 0,
        validation_size: int = 0,
        start_from: str | None = None,
        pixel_scale: float = 255.0,
        random_state: int = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.arch = arch
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.weight_decay = weight_decay
        self.augment = augment
        self.validation_size = validation_size
        self.start_from = start_from
        self.pixel_scale = pixel_scale
        self.random_state = random_state

    def _pixels(self, X: NDArray[Any]) -> NDArray[np.float32]:
        """X scaled to [0, 1] floats, as the network takes pixels."""
        return np.ascontiguousarray(np.asarray(X, np.float32) / np.float32(self.pixel_scale))

    def fit(self, X: Any, y: Any) -> MNISTClassifier:
        from nnmnist.training.trainer import TrainConfig, Trainer

        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        start = self._start()
        if start is not None:
            if not set(encoder.classes_.tolist()) <= set(range(N_CLASSES)):
                raise ValueError("start_from fine-tunes a digit model: labels must be 0-9")
            self.classes_ = np.arange(N_CLASSES)
            codes = np.asarray(y, np.int64)
        else:
            self.classes_ = encoder.classes_
            codes = encoder.transform(y)
        if len(self.classes_) < 2:
            raise ValueError("the classifier needs samples of at least two classes, not one class")
        if (self.arch is not None or start is not None) and X.shape[1] != N_INPUTS:
            raise ValueError(f"a layer network reads 28x28 pictures: X needs {N_INPUTS} features")
        hidden, activation = tuple(int(h) for h in self.hidden_layer_sizes), self.activation
        if start is not None and start.layers is None:  # an MLP: its own layers
            hidden, activation = tuple(start.sizes[1:-1]), start.hidden
        config = TrainConfig(
            hidden=hidden,
            activation=activation,
            optimizer=self.optimizer,
            lr=float(self.learning_rate),
            weight_decay=float(self.weight_decay),
            batch_size=int(self.batch_size),
            epochs=int(self.epochs),
            seed=int(self.random_state),
            val_size=int(min(self.validation_size, max(len(y) - 1, 0))),
            augment=int(self.augment),
            arch=start.spec if start is not None and start.layers is not None else self.arch,
        )
        trainer = Trainer(
            config,
            self._pixels(X),  # type: ignore[arg-type]
            codes.astype(np.int64),  # type: ignore[arg-type]
            outputs=len(self.classes_),
            inputs=X.shape[1],
            start=start,
        )
        history = trainer.run()
        self.network_: Network = trainer.best_network()
        self.loss_curve_ = [r.train_loss for r in history]
        return self

    def _start(self) -> Network | None:
        if self.start_from is None:
            return None
        from nnmnist.api import load

        return load(self.start_from).net

    def predict_proba(self, X: Any) -> NDArray[np.floating]:
        """(n_samples, n_classes) probabilities."""
        check_is_fitted(self, "network_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        with np.errstate(over="ignore", invalid="ignore"):
            probs = forward(self.network_, self._pixels(X)).astype(np.float64)
        return probs

    def predict(self, X: Any) -> NDArray[Any]:
        """(n_samples,) the most probable class of each row."""
        best = self.predict_proba(X).argmax(axis=1)
        return np.asarray(self.classes_[best])
