"""Check an audit's mutants before any is run (what each auditor of audits 7-9 ran):
    python3 docs/audits/check_fresh_lines.py auditN_taken_lines.json MUTANTS.json [MORE.json ...]
Each mutant: fields id/area/file/old/new/why; `old` occurs exactly once in ./<file>;
old != new; the mutated file still parses; it touches no line in the taken-lines file (lines already
mutated by the project's own mutants or by an earlier audit) and no line another listed mutant touches."""
import ast, json, sys
from pathlib import Path
ROOT = Path(__file__).resolve().parents[2]
taken = json.load(open(sys.argv[1]))
seen = {}
bad = 0
ids = set()
for f in sys.argv[2:]:
    for m in json.load(open(f)):
        miss = {'id', 'area', 'file', 'old', 'new', 'why'} - set(m)
        if miss:
            print(m.get('id'), 'MISSING', miss); bad += 1; continue
        if m['id'] in ids:
            print(m['id'], 'DUPLICATE ID'); bad += 1
        ids.add(m['id'])
        text = (ROOT / m['file']).read_text()
        n = text.count(m['old'])
        if n != 1 or m['old'] == m['new']:
            print(f"{m['id']}: DOES NOT APPLY (occurs {n} times{', old == new' if m['old'] == m['new'] else ''})"); bad += 1; continue
        new_text = text.replace(m['old'], m['new'])
        try:
            ast.parse(new_text)
        except SyntaxError as e:
            print(f"{m['id']}: SYNTAX ERROR after mutation ({e})"); bad += 1; continue
        start = text.index(m['old']); first = text.count('\n', 0, start) + 1
        lines = set(range(first, first + m['old'].count('\n') + 1))
        hit = lines & set(taken.get(m['file'], []))
        if hit:
            print(f"{m['id']}: TOUCHES A TAKEN LINE {sorted(hit)} of {m['file']}"); bad += 1; continue
        for l in lines:
            other = seen.get((m['file'], l))
            if other:
                print(f"{m['id']}: SAME LINE {l} AS {other}"); bad += 1; break
            seen[(m['file'], l)] = m['id']
print(f"{len(ids)} mutants, {bad} problems")
sys.exit(1 if bad else 0)
