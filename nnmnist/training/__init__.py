"""The trainer, augmentation and fine-tuning: reports through callbacks, never prints."""
