"""Program 2: a Keras sequence classifier, with numpylstm, training step for step as Keras does.

The original, in Keras::

    model = Sequential([LSTM(units=64, input_shape=(None, 100)), Dense(units=10)])
    model.compile(optimizer=Adam(0.001), loss=CategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=10)        # y_train: one-hot labels (N, 10)
    predictions = model.predict(x_test)

Two differences between Keras and PyTorch decide whether the training runs agree:
Keras's LSTM has one bias where PyTorch's (and numpylstm's) has two, and Keras's
Adam adds epsilon to sqrt(v) before the bias correction, PyTorch's after it.
"""
import numpy as np

from numpylstm import SequenceRegressor, train
from numpylstm.losses import cross_entropy
from numpylstm.optim import Adam
from numpylstm.threads import limit_blas_threads

FEATURES, UNITS, CLASSES = 100, 64, 10


def build_model(seed=0):
    """LSTM(100 -> 64) read at its last step, then Linear(64 -> 10): the 10 class logits."""
    model = SequenceRegressor(FEATURES, UNITS, output_size=CLASSES, batch_first=True, seed=seed)
    # Keras has one bias: train bias_ih alone, keep bias_hh fixed (their sum is Keras's bias).
    model.lstm.bias_hh_l0.requires_grad_(False)
    return model


def build_optimizer(model):
    # Keras's Adam: learning rate 0.001, epsilon 1e-7, added the Keras way.
    return Adam(model.parameters(), lr=0.001, eps=1e-7, eps_style="keras")


def accuracy(logits, one_hot):
    """Keras's "accuracy" for one-hot labels: how often the largest logit is the labelled class."""
    return train.accuracy(logits, one_hot.argmax(axis=-1))


def random_data(rng, n, steps=10):
    """n sequences of `steps` random feature vectors, each with a random one-hot label."""
    return rng.random((n, steps, FEATURES)), np.eye(CLASSES)[rng.integers(0, CLASSES, n)]


def main():
    rng = np.random.default_rng(0)
    x_train, y_train = random_data(rng, 320)
    x_test, _ = random_data(rng, 8)
    model = build_model()
    # cross_entropy takes the one-hot labels as class probabilities (Keras's from_logits=True loss).
    # Keras reports accuracy on the training batches; fit reports a metric on val_data, here the
    # training set itself. Batches of 32 (Keras's default), shuffled every epoch. One BLAS thread:
    # faster for matrices this small (numpylstm/threads.py says why).
    with limit_blas_threads(1):
        train.fit(model, cross_entropy, build_optimizer(model), (x_train, y_train), epochs=10, batch_size=32,
                  val_data=(x_train, y_train), metric=accuracy, seed=0)
        predictions = train.predict(model, x_test)        # logits (8, 10)
    print(predictions.shape)
    print("predicted classes:", predictions.argmax(axis=-1))


if __name__ == "__main__":
    main()
