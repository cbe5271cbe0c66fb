"""Tally of the hostile layer, outside pytest: ``python -m tests.hostile.report [--out FILE]``.

Prints the number of hostile calls, the failing calls, the failures by class
with a few examples each, and the functions with the most failures; writes
every failure to ``--out``. ``--refquant DIR`` puts another copy of the
package first on the path (e.g. an exported commit, to tally a "before").
``--only TEXT`` keeps the entries whose name contains TEXT.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.hostile.report", description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="write every failure to this file")
    ap.add_argument(
        "--refquant", help="directory holding the refquant package to test (default: the import path)"
    )
    ap.add_argument("--only", default="", help="only entries whose name contains this text")
    ap.add_argument("--examples", type=int, default=4, help="examples printed per class (default 4)")
    args = ap.parse_args(argv)
    if args.refquant:
        sys.path.insert(0, os.path.abspath(args.refquant))
        for name in [m for m in sys.modules if m == "refquant" or m.startswith("refquant.")]:
            del sys.modules[name]
    if args.out:
        open(args.out, "w").close()  # fail now, not after the run, if the path is not writable

    import refquant
    from tests.hostile import registry
    from tests.hostile.harness import CLASSES, run_case

    t0 = time.perf_counter()
    cases = [c for c in registry.all_cases() if args.only in c.entry.name]
    by_class: dict[str, list] = collections.defaultdict(list)
    failing_cases = 0
    per_function: collections.Counter[str] = collections.Counter()
    per_function_class: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for i, case in enumerate(cases):
        fails = run_case(case)
        if fails:
            failing_cases += 1
            per_function[case.entry.target] += 1
        seen = set()
        for f in fails:
            if f.cls in seen:
                continue
            seen.add(f.cls)
            by_class[f.cls].append(f)
            per_function_class[case.entry.target][f.cls] += 1
        if (i + 1) % 2000 == 0:
            print(f"... {i + 1}/{len(cases)} calls, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    seconds = time.perf_counter() - t0
    missing = registry.uncovered()

    lines = [
        f"refquant hostile layer: {refquant.__file__}",
        f"{len(cases)} hostile calls ({len(registry.ENTRIES)} registry entries, "
        f"{len({e.target for e in registry.ENTRIES})} public callables, "
        f"{len(registry.EXEMPT)} exempt containers) "
        f"in {seconds:.0f} s",
        f"{failing_cases} calls fail ({len(cases) - failing_cases} pass); public callables without an entry: "
        f"{len(missing)} {missing if missing else ''}",
        "",
        "failures by class (a call counts once per class):",
    ]
    for cls, desc in CLASSES.items():
        lines.append(f"  {cls:17s} {len(by_class.get(cls, [])):5d}  {desc}")
    for cls in CLASSES:
        fs = by_class.get(cls, [])
        if not fs:
            continue
        lines += ["", f"== {cls}: {len(fs)} (examples, one per function)"]
        shown: set[str] = set()
        for f in fs:
            fn = f.case_id.split(":")[0] + ":" + f.case_id.split(":")[1].split("[")[0]
            if fn in shown:
                continue
            shown.add(fn)
            lines.append("  " + str(f).replace("\n", "\n  "))
            if len(shown) >= args.examples:
                break
    lines += ["", "functions with the most failing calls:"]
    for fn, n in per_function.most_common(25):
        detail = ", ".join(f"{c} {k}" for c, k in per_function_class[fn].most_common())
        lines.append(f"  {n:4d}  {fn}  ({detail})")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as out:
            out.write(text + "\n\n# every failure\n")
            for cls in CLASSES:
                for f in by_class.get(cls, []):
                    out.write(str(f) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
