r"""Feed-forward building blocks, each with its backward pass beside its forward.

``Linear``, ``Embedding``, the activations ``ReLU``, ``Tanh`` and ``Sigmoid``,
``Dropout`` and ``Sequential``, with PyTorch's names, layouts and default
initialisation, so a ``state_dict`` moves between the two unchanged.

Every module follows the contract of ``numpylstm.module``: ``forward`` pushes
a cache (in training mode only), ``backward(d_output)`` pops the newest one,
*adds* parameter gradients into ``.grad`` and returns the gradient with
respect to the input. A backward without its forward raises
``MissingForwardError`` (a ``RuntimeError`` and a ``ValueError``); a backward
refused for a gradient of the wrong shape keeps its forward's cache, so it can
be corrected and called again. An empty batch gives an empty output, as in PyTorch.

The derivatives, for ``y = f(x)`` and the incoming gradient ``dy``::

    Linear   y = x @ W.T + b        dx = dy @ W     dW += dy.T @ x   db += sum(dy)
    ReLU     y = max(x, 0)          dx = dy * (x > 0)
    Tanh     y = tanh(x)            dx = dy * (1 - y**2)
    Sigmoid  y = 1 / (1 + e^-x)     dx = dy * y * (1 - y)
    Dropout  y = x * m              dx = dy * m      (m = keep / (1 - p), the same m)
    Embedding  y = W[ids]           dW[k] += sum of dy over the positions where ids == k
"""
import math
import numbers

import numpy as np

from . import _validate as check
from .backend import get_array_module
from .functional import sigmoid
from .module import Module, Parameter, kept_for_backward


def spawn_seeds(seed, count):
    """``count`` independent seeds from one ``seed`` (int, SeedSequence or None), for child modules."""
    if isinstance(check.seed(seed), (np.random.Generator, np.random.BitGenerator)):
        raise TypeError(f"seed must be None, a non-negative integer or a numpy SeedSequence for a model "
                        f"made of several modules, got a {type(seed).__name__}")
    parent = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return parent.spawn(count)


def _float_input(x, name="input"):
    """``x`` as a floating array, keeping its own dtype (parameter-free modules have none to impose)."""
    return check.float_array(x, name, None)


# -------------------------------------------------------------------------- Linear
class Linear(Module):
    r"""An affine map on the last axis, as ``torch.nn.Linear``: ``y = x @ weight.T + bias``.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
        With False there is no ``bias`` parameter.
    dtype : float32 or float64
    seed : int, SeedSequence or None
        Seeds the initialisation: ``weight`` (out_features, in_features) and ``bias``
        (out_features,) are drawn from U(-1/sqrt(in_features), 1/sqrt(in_features)),
        PyTorch's default.

    Shapes
    ------
    ``y = linear(x)``: x (..., in_features) -> y (..., out_features); any number of leading
    axes (an empty batch gives an empty output, as in PyTorch), so one head runs on every
    time step (T, N, H) or on the last one (N, H).

    ``dx = linear.backward(dy)``: dy (..., out_features) -> dx (..., in_features), and
    ``weight.grad += dy.T @ x``, ``bias.grad += dy`` summed over the leading axes.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float64, seed=None):
        super().__init__()
        self.in_features = check.positive_int(in_features, "in_features")
        self.out_features = check.positive_int(out_features, "out_features")
        bias = check.boolean(bias, "bias")
        dtype = check.float_dtype(dtype)
        rng = np.random.default_rng(check.seed(seed))
        check.parameters_fit(self, self.out_features * (self.in_features + bias), dtype,
                             f"Linear({self.in_features}, {self.out_features}, bias={bias})")
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight = Parameter(rng.uniform(-bound, bound, (self.out_features, self.in_features)).astype(dtype))
        # Assigning None keeps ``linear.bias`` readable without registering a parameter.
        self.bias = Parameter(rng.uniform(-bound, bound, (self.out_features,)).astype(dtype)) if bias else None

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"

    def forward(self, x):
        x = check.float_array(x, "input", self.dtype)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"input must have in_features={self.in_features} features in its last axis, "
                f"got shape {tuple(x.shape)}"
            )
        y = x @ self.weight.data.T
        if self.bias is not None:
            y = y + self.bias.data
        self._push_cache(*kept_for_backward(self, x))
        return y

    def backward(self, dy):
        x = self._pop_cache()
        dy = check.output_grad(dy, "dy", x.shape[:-1] + (self.out_features,), self.dtype)
        # Flatten the leading axes: every position contributes to the same weights.
        dy_rows = dy.reshape(-1, self.out_features)
        self.weight.accumulate(dy_rows.T @ x.reshape(-1, self.in_features))
        if self.bias is not None:
            self.bias.accumulate(dy_rows.sum(axis=0))
        return dy @ self.weight.data


# --------------------------------------------------------------------- activations
class ReLU(Module):
    r"""``y = max(x, 0)`` element-wise; ``dx = dy * (x > 0)`` (the slope at 0 taken as 0, as PyTorch).

    Any shape; the output keeps the input's dtype.
    """

    def forward(self, x):
        x = _float_input(x)
        positive = x > 0
        self._push_cache(positive)
        return get_array_module(x).where(positive, x, 0)

    def backward(self, dy):
        positive = self._pop_cache()
        return check.output_grad(dy, "dy", positive.shape, None) * positive


class Tanh(Module):
    r"""``y = tanh(x)`` element-wise; ``dx = dy * (1 - y**2)``, from the saved output.

    Any shape; the output keeps the input's dtype.
    """

    def forward(self, x):
        x = _float_input(x)
        y = get_array_module(x).tanh(x)
        self._push_cache(*kept_for_backward(self, y))
        return y

    def backward(self, dy):
        y = self._pop_cache()
        return check.output_grad(dy, "dy", y.shape, None) * (1 - y * y)


class Sigmoid(Module):
    r"""``y = 1 / (1 + exp(-x))`` element-wise; ``dx = dy * y * (1 - y)``, from the saved output.

    Computed without overflow for any x (see ``numpylstm.functional.sigmoid``).
    Any shape; the output keeps the input's dtype.
    """

    def forward(self, x):
        x = _float_input(x)
        y = sigmoid(x)
        self._push_cache(*kept_for_backward(self, y))
        return y

    def backward(self, dy):
        y = self._pop_cache()
        return check.output_grad(dy, "dy", y.shape, None) * y * (1 - y)


# ------------------------------------------------------------------------- Dropout
class Dropout(Module):
    r"""Inverted dropout, as ``torch.nn.Dropout``.

    In training mode each element is kept with probability ``1 - p`` and scaled
    by ``1 / (1 - p)`` (so the expected output equals the input), otherwise set
    to zero: ``y = x * m`` with ``m = keep / (1 - p)``. ``backward`` applies the
    same ``m`` that its forward drew: ``dx = dy * m``. In ``eval()`` mode the
    layer is the identity and records nothing.

    Parameters
    ----------
    p : float in [0, 1]
        Probability of dropping an element; p = 1 drops every element (the output is
        zero, as PyTorch's). ``dropout.p`` may be changed later; it is checked again.
    seed : int, SeedSequence or None
        Seeds the masks, so a run is reproducible.
    """

    def __init__(self, p=0.5, seed=None):
        super().__init__()
        self.p = p
        self._rng = np.random.default_rng(check.seed(seed))

    @property
    def p(self):
        return self._p

    @p.setter
    def p(self, value):
        self._p = check.fraction(value, "p")

    def extra_repr(self):
        return f"p={self.p}"

    def forward(self, x):
        x = _float_input(x)
        if not self.training:
            return x
        mask = dropout_mask(self._rng, x.shape, self.p, x.dtype, get_array_module(x))
        self._push_cache(mask)
        return x * mask

    def backward(self, dy):
        mask = self._pop_cache()
        return check.output_grad(dy, "dy", mask.shape, None) * mask


def dropout_mask(rng, shape, p, dtype, xp):
    """Inverted dropout's ``m = keep / (1 - p)``: 0 with probability p, else 1 / (1 - p); all 0 for p = 1."""
    keep = rng.random(shape) >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)   # p = 1 keeps nothing: 0, not 0 * inf
    return xp.asarray(keep.astype(dtype) * dtype.type(scale))


# ----------------------------------------------------------------------- Embedding
class Embedding(Module):
    r"""A lookup table of vectors, as ``torch.nn.Embedding``: ``y = weight[ids]``.

    Parameters
    ----------
    num_embeddings : int
        Size of the vocabulary; ids run from 0 to num_embeddings - 1.
    embedding_dim : int
    padding_idx : int or None
        If given (negative values count from the end, as in PyTorch), that row
        starts at zero and never receives a gradient, so padding stays zero.
    dtype : float32 or float64
    seed : int, SeedSequence or None
        ``weight`` (num_embeddings, embedding_dim) is drawn from N(0, 1), PyTorch's default.

    Shapes
    ------
    ``y = embedding(ids)``: ids, integers of any shape S -> y (*S, embedding_dim).

    ``embedding.backward(dy)``: dy (*S, embedding_dim). Adds ``dy`` at every
    position into the row of its id (a scatter-add, ``np.add.at``: an id that
    appears k times receives the sum of its k gradients). Returns None: ids
    are integers and have no gradient.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, dtype=np.float64, seed=None):
        super().__init__()
        self.num_embeddings = check.positive_int(num_embeddings, "num_embeddings")
        self.embedding_dim = check.positive_int(embedding_dim, "embedding_dim")
        self.padding_idx = self._resolve_padding_idx(padding_idx)
        dtype = check.float_dtype(dtype)
        rng = np.random.default_rng(check.seed(seed))
        check.parameters_fit(self, self.num_embeddings * self.embedding_dim, dtype)
        self.weight = Parameter(rng.standard_normal((self.num_embeddings, self.embedding_dim)).astype(dtype))
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def _resolve_padding_idx(self, padding_idx):
        if padding_idx is None:
            return None
        n = self.num_embeddings
        return check.integer(padding_idx, "padding_idx", -n, n - 1, context=f" (num_embeddings={n}) or None") % n

    def extra_repr(self):
        extra = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{extra}"

    def forward(self, ids, name="input"):
        """``weight[ids]``; errors call the ids ``name`` (models pass their own argument's name)."""
        ids = check.integer_array(ids, name, 0, self.num_embeddings - 1, what="integer token ids",
                                  context=f" (vocabulary of {self.num_embeddings})")
        ids = get_array_module(self.weight.data).asarray(ids)   # on the weight's device
        self._push_cache(*kept_for_backward(self, ids))
        return self.weight.data[ids]

    def backward(self, dy):
        ids = self._pop_cache()
        dy = check.output_grad(dy, "dy", ids.shape + (self.embedding_dim,), self.dtype)
        # ``grad[ids] += dy`` would be wrong: with repeated ids, fancy-index assignment
        # keeps one contribution per row. ``add.at`` adds every one (CuPy >= 13 has it too).
        if self.padding_idx is not None:
            dy = dy * (ids != self.padding_idx)[..., None]  # the padding row stays frozen at zero
        if self.weight.requires_grad:
            get_array_module(dy).add.at(self.weight.grad, ids, dy)
        return None


# ---------------------------------------------------------------------- Sequential
class Sequential(Module):
    r"""Modules applied one after the other; ``backward`` runs them in reverse.

    ``Sequential(m0, m1, m2)(x) == m2(m1(m0(x)))`` and
    ``backward(dy) == m0.backward(m1.backward(m2.backward(dy)))``. The children
    are named ``"0"``, ``"1"``, ..., so parameters read ``"0.weight"`` as in
    PyTorch. Each child must take one array and return one array (``Linear``,
    activations, ``Dropout``; ``Embedding`` only first, since its backward
    returns None).
    """

    def __init__(self, *modules):
        super().__init__()
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(
                    f"Sequential takes Module instances, got {type(module).__name__} at position {index}"
                )
            setattr(self, str(index), module)

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, index):
        return list(self._modules.values())[index]

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, x):
        for module in self:
            x = module(x)
        # A marker of our own, so backward-before-forward names Sequential, not a child.
        self._push_cache(len(self))
        return x

    def backward(self, dy):
        self._pop_cache()
        for module in reversed(list(self)):
            dy = module.backward(dy)
        return dy


def mlp(in_features, hidden, out_features, dtype=np.float64, seed=None):
    r"""The from-scratch MLP head: ``Sequential(Linear, ReLU, Linear)``.

    Parameters
    ----------
    in_features, out_features : int
    hidden : int or sequence of int
        Width of the hidden layer; a sequence gives one Linear + ReLU per entry.
    dtype : float32 or float64
    seed : int or None
        One seed for the whole head (each Linear gets its own stream from it).

    Example: ``head = mlp(32, 64, 1)`` maps (..., 32) to (..., 1).
    """
    if isinstance(hidden, numbers.Integral):
        widths = [hidden]
    elif isinstance(hidden, (tuple, list)):
        widths = list(hidden)
    else:
        raise TypeError(f"hidden must be a positive integer or a sequence of them, got {hidden!r} "
                        f"({type(hidden).__name__})")
    if not widths:
        raise ValueError("hidden must be a width or a non-empty sequence of widths, got an empty sequence")
    widths = [check.positive_int(w, "hidden" if len(widths) == 1 else f"hidden[{k}]") for k, w in enumerate(widths)]
    sizes = [in_features] + widths + [out_features]
    seeds = spawn_seeds(seed, len(sizes) - 1)
    layers = []
    for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Linear(fan_in, fan_out, dtype=dtype, seed=seeds[k]))
        if k < len(sizes) - 2:
            layers.append(ReLU())
    return Sequential(*layers)
