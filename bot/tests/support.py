"""What the bot's unit tests share: the package on the path, the recorded stanzas, a comparable form of Jingle,
and a unittest run that ends with the line `N passed, M failed` (what tests/bot_units.rs checks)."""

import os
import sys
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
sys.path.insert(0, os.path.dirname(HERE))  # bot/, so that `import jframebot` works from anywhere
sys.dont_write_bytecode = True

from jframebot import jingle  # noqa: E402

J = "{%s}" % jingle.JINGLE


def load_iq(name):
    """An `<iq>` of bot/tests/data (copied from ../shared/ljm/transcripts/p2p-e2ee-run.xml)."""
    return ET.parse(os.path.join(DATA, name)).getroot()


def load_jingle(name):
    return load_iq(name).find(J + "jingle")


def canonical(element, ignore_attrs=()):
    """A nested tuple that two elements share exactly when they carry the same information: tag with namespace,
    attributes (order-free), stripped text, children in order."""
    attrs = tuple(sorted((k, v) for k, v in element.attrib.items() if k not in ignore_attrs))
    children = tuple(canonical(child, ignore_attrs) for child in element)
    return (element.tag, attrs, (element.text or "").strip(), children)


def sdp_media_lines(sdp):
    """{mid: [lines]} of an SDP's media sections."""
    result, current = {}, None
    for line in sdp.replace("\r\n", "\n").split("\n"):
        if line.startswith("m="):
            current = [line]
        elif current is not None and line:
            current.append(line)
            if line.startswith("a=mid:"):
                result[line[6:]] = current
    return result


def run(*cases):
    """Runs the TestCase classes; prints every result and the last line `N passed, M failed`."""
    suite = unittest.TestSuite(unittest.defaultTestLoader.loadTestsFromTestCase(case) for case in cases)
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    # a test whose subtests fail is one failed test
    failed_tests = {getattr(test, "test_case", test).id() for test, _ in result.failures + result.errors}
    failed = len(failed_tests) + len(result.unexpectedSuccesses)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed or not result.testsRun else 0)
