"""Contractions: matmul, dot, tensordot and two-operand einsum. matmul is the one kernel-backed op (MatmulOp);
the others are written with transpose, reshape, sum and matmul, so their gradients are those ops' gradients."""

import math
import string

import numpy as np

from ..layers.base import KerasTensor, Variable
from . import op_layers as L
from .elementwise import as_array
from .reductions import reduce
from .shaping import reshape, transpose


def matmul(x1, x2):
    """Keras's ops.matmul (NumPy's matmul rules)."""
    if not isinstance(x1, KerasTensor) and not isinstance(x2, KerasTensor):
        return np.matmul(as_array(x1), as_array(x2))
    return L.record(L.MatmulOp(x1, x2))


def dot(x1, x2):
    """Keras's ops.dot. Symbolic: a tensor times a constant or weight of rank <= 2 (then it is matmul)."""
    if not isinstance(x1, KerasTensor) and not isinstance(x2, KerasTensor):
        return np.dot(as_array(x1), as_array(x2))
    if isinstance(x1, KerasTensor) and not isinstance(x2, KerasTensor) and len(np.shape(x2)) <= 2:
        return matmul(x1, x2)
    raise ValueError("ops.dot: nbkeras's compiled graphs take a symbolic tensor times a matrix or vector; for "
                     "two symbolic tensors use ops.matmul or ops.einsum (ops.dot would pair every sample with "
                     "every other)")


def _axes_pair(axes, r1, r2):
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        return list(range(r1 - n, r1)), list(range(n))
    a, b = axes
    a = [a] if isinstance(a, (int, np.integer)) else list(a)
    b = [b] if isinstance(b, (int, np.integer)) else list(b)
    if len(a) != len(b):
        raise ValueError(f"ops.tensordot: axes {axes} pair {len(a)} axes with {len(b)}")
    return [x % r1 for x in a], [x % r2 for x in b]


def tensordot(x1, x2, axes=2):
    """Keras's ops.tensordot. Symbolic: x1 a tensor, x2 a constant or weight contracted over some of x1's
    per-sample axes. A weight must be contracted over its leading axes in order (it cannot be transposed)."""
    if not isinstance(x1, KerasTensor) and not isinstance(x2, KerasTensor):
        return np.tensordot(as_array(x1), as_array(x2), axes)
    if not isinstance(x1, KerasTensor) or isinstance(x2, KerasTensor):
        raise ValueError("ops.tensordot: nbkeras's compiled graphs take a symbolic tensor as x1 and a constant or "
                         "weight as x2")
    s1, s2 = tuple(x1.shape), tuple(np.shape(x2))
    a1, a2 = _axes_pair(axes, len(s1), len(s2))
    if 0 in a1:
        raise ValueError("ops.tensordot: contracting the batch axis is not supported in nbkeras's compiled graphs")
    for i, j in zip(a1, a2):
        if s1[i] != s2[j]:
            raise ValueError(f"ops.tensordot: shapes {s1} and {s2} do not agree on axes {axes}")
    free1 = [k for k in range(len(s1)) if k not in a1]
    free2 = [k for k in range(len(s2)) if k not in a2]
    if isinstance(x2, Variable):
        if a2 != list(range(len(a2))):
            raise ValueError("ops.tensordot: a weight must be contracted over its leading axes, in order")
        w = x2
    else:
        w = np.transpose(as_array(x2), a2 + free2)
    k = math.prod(s1[i] for i in a1)
    n = math.prod(s2[j] for j in free2)
    moved = transpose(x1, free1 + a1) if free1 + a1 != list(range(len(s1))) else x1
    flat = reshape(moved, (None, math.prod(s1[i] for i in free1[1:]), k))
    out = L.record(L.MatmulOp(flat, w, b_matrix=(k, n)))
    return reshape(out, (None,) + tuple(s1[i] for i in free1[1:]) + tuple(s2[j] for j in free2))


# ------------------------------------------------------------------------------------------ einsum
def _parse(subscripts, shapes):
    """([letters per operand], output letters) with '...' expanded into fresh letters."""
    if "->" in subscripts:
        lhs, out = subscripts.replace(" ", "").split("->")
    else:
        lhs, out = subscripts.replace(" ", ""), None
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"ops.einsum: {len(terms)} terms for {len(shapes)} operands")
    spare = [c for c in string.ascii_letters if c not in subscripts]
    ell = None
    parsed = []
    for term, shape in zip(terms, shapes):
        if "..." in term:
            n = len(shape) - (len(term) - 3)
            if ell is None:
                ell = "".join(spare[:n])
            elif len(ell) != n:
                raise ValueError("ops.einsum: '...' stands for different numbers of axes")
            term = term.replace("...", ell[len(ell) - n:])
        if len(term) != len(shape):
            raise ValueError(f"ops.einsum: term {term!r} does not match an operand of rank {len(shape)}")
        parsed.append(term)
    if out is None:
        counts = {c: "".join(parsed).count(c) for c in "".join(parsed)}
        out = (ell or "") + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in (ell or "")))
    elif "..." in out:
        out = out.replace("...", ell or "")
    return parsed, out


def _sum_out(x, term, keep):
    """Sum a symbolic operand over the letters no one else needs."""
    drop = [k for k, c in enumerate(term) if c not in keep]
    if not drop:
        return x, term
    return reduce("sum", x, drop, False), "".join(c for c in term if c in keep)


def einsum(subscripts, *operands):
    """Keras's ops.einsum. Symbolic: one or two operands, at least one a tensor whose first letter (the batch)
    appears in the output; the contraction becomes transposes, reshapes and one matmul."""
    if not any(isinstance(o, KerasTensor) for o in operands):
        return np.einsum(subscripts, *[as_array(o) for o in operands])
    shapes = [tuple(o.shape) if isinstance(o, (KerasTensor, Variable)) else np.shape(o) for o in operands]
    terms, out = _parse(subscripts, shapes)
    if len(operands) == 1:
        x, term = _sum_out(operands[0], terms[0], out)
        return _arrange(x, term, out)
    if len(operands) != 2:
        raise ValueError("ops.einsum: nbkeras's compiled graphs take one or two operands")
    (a, b), (ta, tb) = operands, terms
    if not isinstance(a, KerasTensor):  # the symbolic operand goes first
        (a, b), (ta, tb) = (b, a), (tb, ta)
    batch_letter = ta[0]
    if batch_letter not in out:
        raise ValueError("ops.einsum: the batch axis (the symbolic operand's first letter) must be in the output")
    if isinstance(b, KerasTensor):
        if tb[0] != batch_letter:
            raise ValueError("ops.einsum: two symbolic operands must share their first (batch) letter")
        return _einsum_two_tensors(a, ta, b, tb, out)
    return _einsum_tensor_constant(a, ta, b, tb, out)


def _arrange(x, term, out):
    if term == out:
        return x
    if sorted(term) != sorted(out):
        raise ValueError(f"ops.einsum: cannot produce {out!r} from {term!r}")
    return transpose(x, [term.index(c) for c in out])


def _einsum_two_tensors(a, ta, b, tb, out):
    a, ta = _sum_out(a, ta, set(tb) | set(out))
    b, tb = _sum_out(b, tb, set(ta) | set(out))
    batch = [c for c in ta if c in tb and c in out]  # starts with the batch letter
    contract = [c for c in ta if c in tb and c not in out]
    free_a = [c for c in ta if c not in tb]
    free_b = [c for c in tb if c not in ta]
    size = {c: d for t, s in ((ta, a.shape), (tb, b.shape)) for c, d in zip(t, s)}
    a = _arrange(a, ta, "".join(batch + free_a + contract))
    b = _arrange(b, tb, "".join(batch + contract + free_b))
    nb = math.prod(size[c] for c in batch[1:])
    m, k, n = (math.prod(size[c] for c in group) for group in (free_a, contract, free_b))
    y = matmul(reshape(a, (None, nb, m, k)), reshape(b, (None, nb, k, n)))
    y = reshape(y, (None,) + tuple(size[c] for c in batch[1:] + free_a + free_b))
    return _arrange(y, "".join(batch + free_a + free_b), out)


def _einsum_tensor_constant(a, ta, b, tb, out):
    a, ta = _sum_out(a, ta, set(tb) | set(out))
    if any(c in ta and c in tb and c in out for c in tb):
        raise ValueError("ops.einsum: a letter shared by the symbolic operand, the constant and the output (a "
                         "batched product with a constant) is not supported in nbkeras's compiled graphs")
    if not isinstance(b, Variable):
        bb = as_array(b)
        drop = tuple(k for k, c in enumerate(tb) if c not in ta and c not in out)
        if drop:
            bb = bb.sum(axis=drop)
            tb = "".join(c for k, c in enumerate(tb) if k not in drop)
        b = bb
    contract = [c for c in ta if c in tb]
    free_b = [c for c in tb if c not in ta]
    free_a = [c for c in ta if c not in tb]
    axes = ([ta.index(c) for c in contract], [tb.index(c) for c in contract])
    y = tensordot(a, b, axes)
    return _arrange(y, "".join(free_a + free_b), out)
