"""Lines already taken by a mutant: the project's own (tools/mutants.py) and every earlier audit's.
    python3 docs/audits/taken_lines.py OUT.json [docs/audits/auditN_mutants.json ...]
Writes {file: [line, ...]} for the current source: each mutant's original text is located in the
file as it is now (a mutant whose text no longer occurs is skipped and counted). With no audit files
named, every docs/audits/audit*_mutants.json and audit6_extra.json is used."""
import ast, json, sys
from pathlib import Path
ROOT = Path(__file__).resolve().parents[2]


def mutants_in(source: str) -> dict:
    """{name: (file, old, new, selection)} of a tools/mutants.py text, read without importing it."""
    tree = ast.parse(source)
    ns = {}
    # evaluate only the MUTANTS literal and its .update({...}) blocks: no import of the tool
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "MUTANTS":
            ns.update(ast.literal_eval(node.value))
        elif (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
              and getattr(node.value.func, "attr", "") == "update"
              and getattr(node.value.func.value, "id", "") == "MUTANTS"):
            ns.update(ast.literal_eval(node.value.args[0]))
    return ns


def project_mutants():
    return [(f, old) for f, old, *_ in mutants_in((ROOT / "tools/mutants.py").read_text()).values()]


def main():
    out = sys.argv[1]
    files = sys.argv[2:] or sorted(str(p) for p in (ROOT / "docs/audits").glob("audit*_mutants.json")) \
        + [str(ROOT / "docs/audits/audit6_extra.json")]
    pairs = project_mutants()
    n_project = len(pairs)
    for f in files:
        data = json.load(open(f))
        if isinstance(data, dict):
            data = list(data.values())
        pairs += [(m["file"], m["old"]) for m in data if isinstance(m, dict) and "old" in m]
    taken, skipped = {}, 0
    for f, old in pairs:
        p = ROOT / f
        if not p.exists():
            skipped += 1; continue
        text = p.read_text()
        if old not in text:
            skipped += 1; continue
        start = 0
        while (i := text.find(old, start)) >= 0:   # every occurrence (a project mutant may be ambiguous)
            first = text.count("\n", 0, i) + 1
            taken.setdefault(f, set()).update(range(first, first + old.count("\n") + 1))
            start = i + 1
            break
    json.dump({f: sorted(v) for f, v in sorted(taken.items())}, open(out, "w"), indent=0)
    print(f"{n_project} project mutants, {len(pairs) - n_project} audit mutants, {skipped} no longer apply; "
          f"{sum(map(len, taken.values()))} lines taken in {len(taken)} files")


if __name__ == "__main__":
    main()
