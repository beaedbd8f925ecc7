"""Print a file's lines, marking (*) those touched by a tools/mutants.py mutant."""
import importlib.util, sys
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("pm", ROOT / "tools/mutants.py")
pm = importlib.util.module_from_spec(spec); spec.loader.exec_module(pm)
f = sys.argv[1]
lo, hi = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (1, 10**9)
text = (ROOT / f).read_text(); lines = text.split("\n")
hit = set()
for name, (ff, old, new, sel) in pm.MUTANTS.items():
    if ff != f or name.startswith("audit5_"): continue
    i = text.find(old)
    if i < 0: continue
    a = text.count("\n", 0, i)
    for k in range(a, a + old.count("\n") + 1): hit.add(k)
for k, l in enumerate(lines):
    if lo <= k + 1 <= hi and l.strip() and not l.strip().startswith(("#", '"', "*", "``")):
        print(f"{k+1:5d}{'*' if k in hit else ' '} {l}")
