"""Primaries of audit 13 by audit 10's rule: a primary sharing a line with a mutant added to
tools/mutants.py since BASE (round 12) is replaced by its area's next spare (file order) free of them.
    python3 docs/audits/audit13_rule_primaries.py docs/audits/audit13_mutants.json OUT.json
(round 12's mutants are read from the commits before and after it; line numbers from the package source,
unchanged since the audit ran)"""
import json, subprocess, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from taken_lines import mutants_in as mutants_of  # noqa: E402
ROOT = str(Path(__file__).resolve().parents[2]); BASE = "436e695"  # the commit before round 12
old = mutants_of(subprocess.check_output(["git", "-C", ROOT, "show", f"{BASE}:tools/mutants.py"], text=True))
RAN = "3251f15"  # the commit audit 13 ran on (round 12 merged; the package source is unchanged since)
new = mutants_of(subprocess.check_output(["git", "-C", ROOT, "show", f"{RAN}:tools/mutants.py"], text=True))
added = {k: v for k, v in new.items() if k not in old}
def lines(f, text):
    src = open(f"{ROOT}/{f}").read(); i = src.find(text)
    if i < 0: return set()
    a = src.count("\n", 0, i) + 1
    return {(f, l) for l in range(a, a + text.count("\n") + 1)}
taken = {}
for k, (f, o, *_) in added.items():
    for fl in lines(f, o): taken[fl] = k
ms = json.load(open(sys.argv[1]))
spares = {}
for m in ms:
    if m["spare"]: spares.setdefault(m["area"], []).append(m)
prim = []
for m in ms:
    if m["spare"]: continue
    hit = lines(m["file"], m["old"]) & taken.keys()
    if not hit:
        prim.append(m); continue
    print(f"{m['id']}: shares {sorted(hit)} with {taken[sorted(hit)[0]]}")
    while spares.get(m["area"]):
        s = spares[m["area"]].pop(0)
        if not (lines(s["file"], s["old"]) & taken.keys()):
            print(f"   -> replaced by {s['id']}"); prim.append(s); break
        print(f"   spare {s['id']} also shares a line")
    else:
        print("   NO SPARE LEFT")
print(len(added), "round-12 mutants;", len(prim), "primaries")
json.dump(prim, open(sys.argv[2], "w"), indent=1, ensure_ascii=False)
