"""Append the 60 audit5 mutants to tools/mutants.py (ids audit5_<id>), each running the test
that killed it in the audit, or the one written for it where it survived."""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from verify_new_tests import NEW_TESTS  # noqa: E402


def selection(node: str) -> str:
    """'tests/x.py::test_name[param …]' -> 'tests/x.py -k test_name'."""
    f, name = node.split("::", 1)
    func = re.split(r"[\[ ]", name)[0]
    return f"{f} -k {func}"


def main() -> None:
    muts = json.loads((ROOT / "audit5_mutants.json").read_text())
    res = json.loads((ROOT / "audit5_results.json").read_text())
    lines = ["", "", "# a third held-out audit (audit5: 60 mutants written from the package source without "
             "reading this", "# table, then any that touched a line of a mutant above replaced; 40 "
             "killed by the targeted tests", "# of the time, 47 with wider ones, a test for each of "
             "the other 13 added since). Each runs the", "# test that killed it in the audit, or "
             "the one written for it.", "MUTANTS.update({"]
    for m in muts:
        r = res[m["id"]]
        if m["id"] in NEW_TESTS:
            node = NEW_TESTS[m["id"]]
        else:
            phase = "targeted" if r["targeted"]["killed"] else "wider"
            node = r[phase]["first_failure"].replace("FAILED ", "").replace("ERROR ", "")
            node = node.split(" - ")[0]
        sel = selection(node)
        why = m["why_not_equivalent"]
        why = why if len(why) <= 92 else why[:91] + "…"
        lines.append(f"    # {why}")
        lines.append(f"    {json.dumps('audit5_' + m['id'])}: (")
        lines.append(f"        {json.dumps(m['file'])},")
        lines.append(f"        {json.dumps(m['old'], ensure_ascii=False)},")
        lines.append(f"        {json.dumps(m['new'], ensure_ascii=False)},")
        lines.append(f"        {json.dumps(sel)}),")
    lines.append("})")
    path = ROOT / "tools/mutants.py"
    text = path.read_text()
    anchor = "\n\ndef select(args: list[str])"
    assert text.count(anchor) == 1 and "audit5_" not in text
    i = text.index(anchor)
    path.write_text(text[:i].rstrip("\n") + "\n" + "\n".join(lines) + "\n" + text[i:])


if __name__ == "__main__":
    main()
