"""Counts test cases from meson's testlog.json: a Check program's own
"Checks: N, Failures: F, Errors: E" line, or node's test runner's
"# pass N" / "# fail N", when a program printed one; else the program as
one test."""
import json
import re
import sys

CHECK = re.compile(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)")
NODE_PASS = re.compile(r"^# pass (\d+)$", re.M)
NODE_FAIL = re.compile(r"^# fail (\d+)$", re.M)


def main(path):
    passed = failed = 0
    with open(path, encoding="utf-8") as log:
        for line in log:
            result = json.loads(line)
            stdout = result.get("stdout", "") or ""
            found = CHECK.findall(stdout)
            node_pass = NODE_PASS.findall(stdout)
            if node_pass:  # node's test runner (browser tests)
                passed += int(node_pass[-1])
                node_fail = NODE_FAIL.findall(stdout)
                failed += int(node_fail[-1]) if node_fail else 0
                if result["result"] != "OK" and not (node_fail and int(node_fail[-1])):
                    failed += 1
            elif found:
                checks, failures, errors = (int(x) for x in found[-1])
                failed += failures + errors
                passed += checks - failures - errors
                if result["result"] != "OK" and failures + errors == 0:
                    failed += 1  # crashed or timed out after its report
            elif result["result"] in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result["result"] != "SKIP":
                failed += 1
    print(f"tests: {passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
