"""Which audit5 mutants touch the same source lines as one of tools/mutants.py's."""
import importlib.util, json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("pm", ROOT / "tools/mutants.py")
pm = importlib.util.module_from_spec(spec); spec.loader.exec_module(pm)


def span(text, old):
    i = text.find(old)
    if i < 0:
        return None
    a = text.count("\n", 0, i); b = a + old.count("\n")
    return a, b


mine = json.loads((ROOT / sys.argv[1]).read_text())
clash = 0
for m in mine:
    text = (ROOT / m["file"]).read_text()
    s = span(text, m["old"])
    hits = []
    for name, (f, old, new, sel) in pm.MUTANTS.items():
        if f != m["file"] or name.startswith("audit5_"):
            continue
        t = span(text, old)
        if t and not (t[1] < s[0] or s[1] < t[0]):
            hits.append((name, old.strip()[:70], new.strip()[:70]))
    if hits:
        clash += 1
        print(f"== {m['id']}: {m['old'][:60]!r} -> {m['new'][:60]!r}")
        for h in hits:
            print("     ", h)
print(len(pm.MUTANTS), "project mutants;", clash, "of mine share a line")
