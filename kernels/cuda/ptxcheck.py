"""Compile every declared CUDA kernel to PTX for real compute capabilities -- no GPU needed.

    python -m nbkeras.kernels.cuda.ptxcheck [--cc 70,80,90] [--jobs 2] [family ...]

The CUDA simulator runs Python, so it accepts code NVVM rejects (unsupported functions, typing that only the real
target enforces). This compiles each kernel in ``_launch.REGISTRY``, for each declared signature, with
``numba.cuda.compile_ptx`` (numba-cuda's ``[cu12]`` wheels bring NVVM). It must run without the simulator
(``NUMBA_ENABLE_CUDASIM`` unset or 0). Exit status 1 and a list of failures when any kernel does not compile.
"""

import argparse
import importlib
import os
import pkgutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor


def families():
    import nbkeras.kernels.cuda as pkg

    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")
                  and m.name != "ptxcheck")


class _NoDevice:
    """Stands in for the current GPU when a kernel calls a device function: numba-cuda compiles a device function
    at typing time for ``get_current_device().compute_capability``, which needs a driver. The device function's
    code is then linked into the kernel and compiled for the kernel's own ``cc``."""

    compute_capability = (7, 0)


def _without_a_driver():
    from numba.cuda import dispatcher

    dispatcher.get_current_device = lambda: _NoDevice


def compile_family(family, ccs):
    """[(kernel, signature, cc, error or None)] for every kernel the family declares."""
    from numba import cuda

    _without_a_driver()

    from nbkeras.kernels.cuda import _launch

    importlib.import_module(f"nbkeras.kernels.cuda.{family}")
    module = f"nbkeras.kernels.cuda.{family}"
    results = []
    for mod, name, fn, sigs in _launch.REGISTRY:
        if mod != module:
            continue
        for sig in sigs:
            for cc, ptx, err in _ptx(cuda, fn, sig.args, ccs):
                if err is None and f".target sm_{cc[0]}{cc[1]}" not in ptx:
                    err = "PTX for the wrong target"
                results.append((f"{family}.{name}", _launch._sig_text(sig), cc, err))
    return results


def _ptx(cuda, fn, args, ccs):
    """[(cc, ptx, error)]: the kernel typed and lowered once, then NVVM run per compute capability (what
    ``compile_ptx`` does per call, minus repeating the front end); falls back to ``compile_ptx`` per cc."""
    try:
        from numba.cuda.compiler import _compile_pyfunc_with_fixup
    except ImportError:  # pragma: no cover - another numba-cuda layout
        _compile_pyfunc_with_fixup = None
    if _compile_pyfunc_with_fixup is not None:
        try:
            lib, _ = _compile_pyfunc_with_fixup(fn, args, device=False, abi="numba", cc=ccs[0])
        except Exception as e:  # noqa: BLE001 - reported, not swallowed
            return [(cc, "", _error(e)) for cc in ccs]
        out = []
        for cc in ccs:
            try:
                codes = lib.get_asm_strs(cc=cc)
                out.append((cc, codes[0], None if len(codes) == 1 else "several PTX modules"))
            except Exception as e:  # noqa: BLE001
                out.append((cc, "", _error(e)))
        return out
    out = []
    for cc in ccs:
        try:
            out.append((cc, cuda.compile_ptx(fn, args, cc=cc)[0], None))
        except Exception as e:  # noqa: BLE001
            out.append((cc, "", _error(e)))
    return out


def _error(e):
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("families", nargs="*")
    parser.add_argument("--cc", default="70,80,90", help="compute capabilities, e.g. 70,80,90")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        parser.error("run without the CUDA simulator: unset NUMBA_ENABLE_CUDASIM")
    ccs = [(int(c[:-1]), int(c[-1])) for c in args.cc.split(",")]
    names = args.families or families()
    t0 = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            parts = list(pool.map(compile_family, names, [ccs] * len(names)))
    else:
        parts = [compile_family(f, ccs) for f in names]
    results = [r for part in parts for r in part]
    failed = [r for r in results if r[3] is not None]
    kernels = {r[0] for r in results}
    print(f"ptxcheck: {len(kernels)} kernels, {len(results)} compilations for sm_"
          f"{', sm_'.join(f'{a}{b}' for a, b in ccs)} in {time.perf_counter() - t0:.1f} s; {len(failed)} failed")
    for name, sig, cc, err in failed:
        print(f"  FAILED {name}{sig} sm_{cc[0]}{cc[1]}: {err}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
