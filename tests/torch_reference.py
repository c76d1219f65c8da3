"""Run the same numbers through PyTorch, for the cross-checks.

``torch_twin(module, torch)`` builds ``torch.nn.LSTM``/``LSTMCell`` with the
numpylstm module's constructor options and its exact weights (float64);
``run_torch(twin, inputs, output_grads, torch)`` does a forward and a backward
with the given output gradients and returns NumPy arrays.
"""
import numpy as np

from numpylstm import LSTM, LSTMCell
from numpylstm.gradcheck import rel_error

PARITY_TOLERANCE = 1e-9


def assert_distinct_biases(module):
    """Equal or zero biases hide bugs (a swapped b_ih/b_hh passes): refuse them."""
    state = module.state_dict()
    for name in state:
        if name.startswith("bias_ih"):
            b_ih, b_hh = state[name], state[name.replace("bias_ih", "bias_hh")]
            assert np.all(b_ih != 0) and np.all(b_hh != 0), f"{name} has zero entries"
            assert not np.allclose(b_ih, b_hh), f"{name} equals its bias_hh twin"


def torch_twin(module, torch):
    """A float64 torch module with ``module``'s options and weights."""
    if isinstance(module, LSTMCell):
        twin = torch.nn.LSTMCell(module.input_size, module.hidden_size, bias=module.bias, dtype=torch.float64)
    elif isinstance(module, LSTM):
        twin = torch.nn.LSTM(
            module.input_size, module.hidden_size, num_layers=module.num_layers, bias=module.bias,
            batch_first=module.batch_first, dropout=module.dropout, bidirectional=module.bidirectional,
            proj_size=module.proj_size, dtype=torch.float64,
        )
    else:
        raise TypeError(f"no torch twin for {type(module).__name__}")
    twin.load_state_dict({name: torch.tensor(value) for name, value in module.state_dict().items()})
    return twin


def run_torch(twin, inputs, output_grads, torch, **forward_kwargs):
    """Forward ``inputs`` (nested tuple of arrays) through ``twin``, backward ``output_grads``.

    Returns ``(outputs, input_grads, parameter_grads)`` as NumPy: outputs and
    input gradients flattened in depth-first order, parameter gradients by name.
    """
    leaves = []

    def to_tensor(item):
        if isinstance(item, tuple):
            return tuple(to_tensor(i) for i in item)
        if item is None:
            return None
        tensor = torch.tensor(np.asarray(item), dtype=torch.float64, requires_grad=True)
        leaves.append(tensor)
        return tensor

    outputs = _flatten(twin(*to_tensor(tuple(inputs)), **forward_kwargs))
    loss = sum((o * torch.tensor(g)).sum() for o, g in zip(outputs, output_grads))
    loss.backward()
    as_numpy = lambda t: t.detach().numpy().copy()  # noqa: E731
    return ([as_numpy(o) for o in outputs], [as_numpy(t.grad) for t in leaves],
            {name: as_numpy(p.grad) for name, p in twin.named_parameters()})


def _flatten(structure):
    if isinstance(structure, (tuple, list)):
        return [leaf for item in structure for leaf in _flatten(item)]
    return [structure]


def worst_parity_error(module, inputs, torch, rng, **forward_kwargs):
    """Largest relative error between numpylstm and torch over outputs and all gradients.

    Runs forward and backward on both with the same random output gradients
    and returns ``(worst_error, name_of_worst)``.
    """
    assert_distinct_biases(module)
    twin = torch_twin(module, torch)
    outputs = _flatten(module(*inputs, **forward_kwargs))
    output_grads = [rng.standard_normal(np.shape(o)) for o in outputs]
    module.zero_grad()
    input_grads = _flatten(module.backward(*_regroup(module, output_grads)))
    t_outputs, t_input_grads, t_param_grads = run_torch(twin, inputs, output_grads, torch, **forward_kwargs)

    errors = {f"output[{k}]": rel_error(a, b) for k, (a, b) in enumerate(zip(outputs, t_outputs))}
    given = [leaf for leaf in _flatten(tuple(inputs)) if leaf is not None]
    assert len(t_input_grads) == len(given)
    ours = input_grads[:len(given)] if len(given) < len(input_grads) else input_grads
    errors.update({f"input_grad[{k}]": rel_error(a, b) for k, (a, b) in enumerate(zip(ours, t_input_grads))})
    errors.update({name: rel_error(p.grad, t_param_grads[name]) for name, p in module.named_parameters()})
    worst = max(errors, key=errors.get)
    return errors[worst], worst


def _regroup(module, grads):
    """Output gradients in the structure ``module.backward`` takes."""
    if isinstance(module, LSTM):
        return grads[0], (grads[1], grads[2])
    return tuple(grads)
