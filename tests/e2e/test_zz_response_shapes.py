"""The last test of the run: every success response recorded from the suite's boto3 clients (conftest's
after-call.rekognition handler) matches its operation's output shape in the service model, and, when the whole suite
ran, every operation reko implements was answered with a success at least once."""
import collections
import re

from conftest import DESELECTED, ROOT, SKIPPED, SUCCESS_RESPONSES
import shapes

E2E = ROOT / "tests" / "e2e"
SERVER_SRC = ROOT / "crates" / "reko-server" / "src"


def implemented_operations() -> list:
    """IMPLEMENTED_OPERATIONS of reko-server, read from whichever source file defines it."""
    definition = re.compile(r"\b(?:const|static)\s+IMPLEMENTED_OPERATIONS\s*:[^=]*=\s*&?\s*\[(.*?)\]\s*;", re.S)
    found = []
    for path in sorted(SERVER_SRC.rglob("*.rs")):
        for match in definition.finditer(path.read_text()):
            body = re.sub(r"//[^\n]*", "", match.group(1))
            found.append((path, re.findall(r'"([A-Za-z0-9]+)"', body)))
    assert len(found) == 1, f"expected one definition of IMPLEMENTED_OPERATIONS under {SERVER_SRC}, found {found}"
    path, operations = found[0]
    assert operations, f"IMPLEMENTED_OPERATIONS in {path} lists no operations"
    return operations


def whole_suite_ran(session, config) -> str | None:
    """None when the whole suite was selected, else why not."""
    files = {path.name for path in E2E.glob("test_*.py")}
    selected = {item.path.name for item in session.items}
    if files - selected:
        return f"test files not selected: {sorted(files - selected)}"
    if DESELECTED:
        return f"{len(DESELECTED)} tests deselected"
    if any("::" in arg for arg in config.args):
        return f"single tests selected: {config.args}"
    return None


def test_implemented_operations_are_in_the_model():
    model = shapes.load_model()
    operations = implemented_operations()
    assert not set(operations) - set(model["operations"]), set(operations) - set(model["operations"])
    assert len(operations) == len(set(operations))


def test_every_success_response_matches_its_output_shape(request):
    model = shapes.load_model()
    # (operation, violation with list indexes as [*]) -> [count, example violations, tests]
    groups = collections.defaultdict(lambda: [0, [], set()])
    for operation, body, test in SUCCESS_RESPONSES:
        for violation in shapes.check_output(model, operation, body):
            group = groups[(operation, shapes.generic_path(violation).split(": ", 1)[0])]
            group[0] += 1
            if len(group[1]) < 3 and violation not in group[1]:
                group[1].append(violation)
            group[2].add(test)
    report = [
        f"{operation} {path}: {count} times, e.g. {' | '.join(examples)} (in {', '.join(sorted(tests)[:3])})"
        for (operation, path), (count, examples, tests) in sorted(groups.items())
    ]
    failures = []
    if report:
        failures.append(f"{len(report)} kinds of output shape violations in {len(SUCCESS_RESPONSES)} success "
                        "responses:\n" + "\n".join(report))

    seen = collections.Counter(operation for operation, _, _ in SUCCESS_RESPONSES)
    print(f"{len(SUCCESS_RESPONSES)} success responses of {len(seen)} operations checked:",
          ", ".join(f"{operation} {count}" for operation, count in sorted(seen.items())))
    partial = whole_suite_ran(request.session, request.config)
    if partial is not None:
        print(f"not checking that every implemented operation succeeded at least once: {partial}")
    else:
        never = sorted(set(implemented_operations()) - set(seen))
        if never:
            hint = f" (skipped tests, which may be why: {SKIPPED})" if SKIPPED else ""
            failures.append(f"implemented operations never answered with a success in this run: {never}{hint}")
    assert not failures, "\n\n".join(failures)
