"""Counts test cases from meson's testlog.json and prints one line,
"tests: N passed, M failed".

Each program is counted by what it reports of its own cases:
- a Check program: its "Checks: N, Failures: F, Errors: E" line;
- node's test runner (browser suites), with either reporter: the spec
  reporter's summary ("ℹ pass N", "ℹ fail N", "ℹ cancelled N") or TAP's
  ("# pass N", ...); cancelled cases count as failed;
- a Python unittest program (run with its stream on stdout): "Ran N tests"
  and "FAILED (failures=F, errors=E)" or "OK (skipped=S)";
- anything else: the program as one test.
A program that meson saw fail (crash, timeout, non-zero exit) with no failed
case of its own counts one failure more, so a suite can never pass by dying
before its report."""
import json
import re
import sys

CHECK = re.compile(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)")
UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in ", re.M)
UNITTEST_VERDICT = re.compile(r"^(?:OK|FAILED)(?: \((.*)\))?$", re.M)
NODE = {
    key: re.compile(r"^(?:ℹ|#) " + key + r" (\d+)$", re.M)
    for key in ("tests", "pass", "fail", "cancelled")
}


def node_counts(stdout):
    """(passed, failed) from node's test runner summary, or None."""
    found = {key: pattern.findall(stdout) for key, pattern in NODE.items()}
    if not found["tests"] or not found["pass"]:
        return None
    last = {key: int(values[-1]) if values else 0 for key, values in found.items()}
    return last["pass"], last["fail"] + last["cancelled"]


def count(result):
    """(passed, failed) for one program's record in testlog.json."""
    stdout = result.get("stdout", "") or ""
    ok = result["result"] in ("OK", "EXPECTEDFAIL")
    node = node_counts(stdout)
    check = CHECK.findall(stdout)
    ran = UNITTEST_RAN.findall(stdout)
    if node:
        passed, failed = node
    elif check:
        checks, failures, errors = (int(x) for x in check[-1])
        passed, failed = checks - failures - errors, failures + errors
    elif ran:
        verdict = UNITTEST_VERDICT.findall(stdout)
        n = {key: int(v) for key, v in re.findall(r"(\w+)=(\d+)", verdict[-1] if verdict else "")}
        failed = n.get("failures", 0) + n.get("errors", 0) + n.get("unexpected_successes", 0)
        passed = int(ran[-1]) - failed - n.get("skipped", 0) - n.get("expected_failures", 0)
    elif result["result"] == "SKIP":
        return 0, 0
    else:
        return (1, 0) if ok else (0, 1)
    if not ok and failed == 0:
        failed = 1  # crashed or timed out after (or instead of) its report
    return passed, failed


def main(path):
    passed = failed = 0
    with open(path, encoding="utf-8") as log:
        for line in log:
            p, f = count(json.loads(line))
            passed += p
            failed += f
    print(f"tests: {passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
