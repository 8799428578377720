"""Predict programs without the input and output copies, where a call can read and write the user's arrays.

A predict step gathers each input's rows into a work buffer (``data.gather_rows``) and, at the end, copies each
output buffer into the result (``tensor_ops.copy_into`` into ``PredRows``). For a model whose work is one
elementwise pass -- a fused chain of ops, ``ops.tanh(x)`` -- those two copies are a third of the time (each
~0.07 ns an element, the pass itself 0.2-0.6). ``rewrite`` removes them where that is safe:

* **Outputs.** When an output's buffer is written by exactly one call, at the ``out`` position of a kernel in
  ``WRITES``, and read by nothing but its copy into the result, that call writes ``PredRows`` (the result's rows
  of this batch) itself and the copy goes.
* **Inputs.** When an input's gathered buffer is read by exactly one call, at a read-only position of a kernel in
  ``READS``, that call reads ``InputRows`` instead: a view of the user's rows when the batch's rows are
  consecutive in ``order`` (always so in predict), else the same rows gathered (``data.input_rows``). The gather
  call goes.

Only flat views qualify, and only programs that run nothing but predict: the forward section now writes the
outputs, which test and train steps do not pass (``Program.predict_only``; the engines refuse other modes).
The kernels listed never write their read positions, and their ``out`` never overlaps those reads then (the
result is a fresh array), so the numbers are the same bit for bit.
"""

#: kernel -> positions of arrays it only reads (flat, same length as its output)
READS = {
    "elementwise.chain_forward": (17, 18, 19, 20),
    "elementwise.unary_forward": (1,),
    "elementwise.scalar_forward": (1,),
}
#: kernel -> position of the array it writes whole (flat)
WRITES = {
    "elementwise.chain_forward": 21,
    "elementwise.unary_forward": 2,
    "elementwise.scalar_forward": 4,
}


def _uses(program):
    """buffer id -> [(section, call index, arg position)] of every View of it."""
    from .program import View

    uses = {}
    for name, calls in program.sections.items():
        for k, call in enumerate(calls):
            for pos, a in enumerate(call.args):
                if isinstance(a, View):
                    uses.setdefault(id(a.buf), []).append((name, k, pos))
    return uses


def _replace(calls, k, pos, ref):
    call = calls[k]
    args = list(call.args)
    args[pos] = ref
    calls[k] = type(call)(call.fn, args)


def rewrite(program):
    """Rewrite ``program`` (a predict program: forward and outputs sections only) in place, as described above."""
    from .program import Data, InputRows, PredRows

    forward, outputs = program.sections["forward"], program.sections["outputs"]
    uses = _uses(program)
    drop = {"forward": set(), "outputs": set()}
    for j, copy in enumerate(outputs):
        if copy.fn != "tensor_ops.copy_into" or not isinstance(copy.args[0], PredRows):
            continue
        src = copy.args[1]
        where = uses.get(id(src.buf), [])
        writers = [(k, pos) for name, k, pos in where if name == "forward"]
        if src.dims or len(where) != 2 or len(writers) != 1:
            continue
        k, pos = writers[0]
        call = forward[k]
        if WRITES.get(call.fn) != pos or call.args[pos].dims:
            continue
        _replace(forward, k, pos, copy.args[0])
        drop["outputs"].add(j)
    for k, gather in enumerate(forward):
        if gather.fn != "data.gather_rows" or not isinstance(gather.args[0], Data) or gather.args[0].kind != "X":
            continue
        dst = gather.args[4]
        where = uses.get(id(dst.buf), [])
        readers = [(rk, pos) for name, rk, pos in where if name == "forward" and rk != k]
        if len(where) != 2 or len(readers) != 1:
            continue
        rk, pos = readers[0]
        reader = forward[rk]
        if pos not in READS.get(reader.fn, ()) or reader.args[pos].dims:
            continue
        _replace(forward, rk, pos, InputRows(gather.args[0].index, dst))
        drop["forward"].add(k)
    for name, gone in drop.items():
        program.sections[name][:] = [c for i, c in enumerate(program.sections[name]) if i not in gone]
    program.predict_only = True
