"""scripts/test-summary.py counts every case of every kind of suite."""
import importlib.util
import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("summary", os.path.join(HERE, "..", "scripts", "test-summary.py"))
summary = importlib.util.module_from_spec(spec)
spec.loader.exec_module(summary)

SPEC_REPORTER = """▶ Chromium watches signalsink through the page
  ✔ h264: 30 frames decoded (6312.49ms)
  ℹ received: {"pass": 1}
  ✔ vp8: 30 frames decoded (5347.18ms)
✔ Chromium watches signalsink through the page (13926.13ms)
ℹ tests 3
ℹ suites 1
ℹ pass 2
ℹ fail 1
ℹ cancelled 0
ℹ skipped 0
ℹ todo 0
ℹ duration_ms 16069.09
"""

TAP_REPORTER = """TAP version 13
ok 1 - one
ok 2 - two
not ok 3 - three
1..3
# tests 4
# pass 2
# fail 1
# cancelled 1
"""

CHECK = "Running suite(s): elements\n83%: Checks: 12, Failures: 1, Errors: 1\n"


def record(stdout, result="OK"):
    return {"name": "x", "result": result, "stdout": stdout}


class Count(unittest.TestCase):
    def test_spec_reporter_counts_each_case(self):
        self.assertEqual(summary.count(record(SPEC_REPORTER, "FAIL")), (2, 1))

    def test_tap_reporter_counts_cancelled_as_failed(self):
        self.assertEqual(summary.count(record(TAP_REPORTER, "FAIL")), (2, 2))

    def test_diagnostics_are_not_counts(self):
        text = "  ℹ pass 40\nℹ tests 1\nℹ pass 1\nℹ fail 0\n"
        self.assertEqual(summary.count(record(text)), (1, 0))

    def test_check_program(self):
        self.assertEqual(summary.count(record(CHECK, "FAIL")), (10, 2))

    def test_crash_after_a_clean_report_is_a_failure(self):
        text = "ℹ tests 5\nℹ pass 5\nℹ fail 0\n"
        self.assertEqual(summary.count(record(text, "TIMEOUT")), (5, 1))
        self.assertEqual(summary.count(record("Checks: 3, Failures: 0, Errors: 0", "ERROR")), (3, 1))

    def test_unittest_program(self):
        self.assertEqual(summary.count(record("....\nRan 4 tests in 0.001s\n\nOK\n")), (4, 0))
        text = "..F.E\nRan 5 tests in 0.1s\n\nFAILED (failures=1, errors=1, skipped=2)\n"
        self.assertEqual(summary.count(record(text, "FAIL")), (1, 2))
        self.assertEqual(summary.count(record("..s\nRan 3 tests in 0.1s\n\nOK (skipped=1)\n")), (2, 0))

    def test_program_without_a_report(self):
        self.assertEqual(summary.count(record("")), (1, 0))
        self.assertEqual(summary.count(record("", "FAIL")), (0, 1))
        self.assertEqual(summary.count(record("", "SKIP")), (0, 0))

    def test_main_adds_up_programs(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as log:
            for r in (record(SPEC_REPORTER.replace("ℹ fail 1", "ℹ fail 0")), record(CHECK, "FAIL")):
                log.write(json.dumps(r) + "\n")
        try:
            self.assertEqual(summary.main(log.name), 1)
        finally:
            os.unlink(log.name)


if __name__ == "__main__":
    # On stdout, where scripts/test-summary.py reads a program's report.
    unittest.main(verbosity=2, testRunner=unittest.TextTestRunner(stream=sys.stdout, verbosity=2))
