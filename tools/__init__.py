"""What runs around the product: the process supervisor of `make run`, the Rasa server launcher, data generators."""
