"""The evidence pack of a certification run: what a bank hands its scheme, and what CI reads.

    OUT/
      report.html       each case: verdict, why, timings, its ISO basis and rule, the messages exchanged
      junit.xml         one testcase per case (CI): failure for a required case that failed or did not run
      results.json      the run as data (messages by file name)
      messages/R01-answers-in-time/0001-sent-pacs.008.001.08.xml ...  every message, as it went over the wire
      SHA256SUMS        the digest of every file above (`sha256sum -c SHA256SUMS` checks the pack)
"""

from __future__ import annotations

import hashlib
import html
from pathlib import Path
from xml.etree import ElementTree

import msgspec

from rail.certify.runner import CaseResult, Certification, Outcome

REPORT_HTML = "report.html"
JUNIT_XML = "junit.xml"
RESULTS_JSON = "results.json"
MESSAGES_DIR = "messages"
MANIFEST = "SHA256SUMS"


def write_pack(run: Certification, out: Path) -> Path:
    """Write the pack into `out` (created; files of an earlier pack there are replaced); returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    files = {f"{MESSAGES_DIR}/{name}": body for name, body in _message_files(run).items()}
    files[RESULTS_JSON] = msgspec.json.format(msgspec.json.encode(_results(run, files)), indent=2)
    files[JUNIT_XML] = junit_xml(run)
    files[REPORT_HTML] = report_html(run, files).encode()
    for name, body in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    manifest = "".join(f"{hashlib.sha256(body).hexdigest()}  {name}\n" for name, body in sorted(files.items()))
    (out / MANIFEST).write_text(manifest)
    return out / MANIFEST


def _case_dir(result: CaseResult) -> str:
    return f"{result.id}-{result.slug}"


def _message_files(run: Certification) -> dict[str, bytes]:
    files = {}
    for result in run.results:
        for index, message in enumerate(result.messages, 1):
            kind = message.msg_type or "unreadable"
            suffix = "xml" if message.body.lstrip()[:1] == "<" else "json" if message.body[:1] == "{" else "txt"
            direction = message.direction.replace(" ", "-")
            files[f"{_case_dir(result)}/{index:04d}-{direction}-{kind}.{suffix}"] = message.body.encode()
    return files


def _files_of(result: CaseResult, files: dict[str, bytes]) -> list[str]:
    prefix = f"{MESSAGES_DIR}/{_case_dir(result)}/"
    return sorted(name for name in files if name.startswith(prefix))


def _results(run: Certification, files: dict[str, bytes]) -> dict:
    data = msgspec.to_builtins(run)
    data["passed"] = run.passed
    for case, result in zip(data["results"], run.results):
        case["messages"] = [
            {"file": name, "at_s": m.at_s, "direction": m.direction, "msg_type": m.msg_type, "uetr": m.uetr,
             "http_status": m.http_status}
            for name, m in zip(_files_of(result, files), result.messages)
        ]
    return data


def junit_xml(run: Certification) -> bytes:
    """JUnit XML: a required case that failed or did not run is a failure; one that does not apply, skipped."""
    root = ElementTree.Element("testsuites", name=f"rail certify {run.participant}", time=f"{run.seconds:.3f}")
    for role in dict.fromkeys(r.role for r in run.results):
        cases = [r for r in run.results if r.role == role]
        failed = [r for r in cases if r.required and r.outcome is not Outcome.PASSED]
        skipped = [r for r in cases if not r.required]
        suite = ElementTree.SubElement(
            root, "testsuite", name=role, tests=str(len(cases)), failures=str(len(failed)), errors="0",
            skipped=str(len(skipped)), time=f"{sum(r.seconds for r in cases):.3f}", timestamp=run.started_at,
        )
        for result in cases:
            case = ElementTree.SubElement(suite, "testcase", classname=f"rail.certify.{role}",
                                          name=f"{result.id} {result.slug}", time=f"{result.seconds:.3f}")
            if not result.required:
                ElementTree.SubElement(case, "skipped", message=result.reason)
            elif result.outcome is not Outcome.PASSED:
                failure = ElementTree.SubElement(case, "failure", message=f"{result.outcome}: {result.reason}",
                                                 type=str(result.outcome))
                failure.text = "\n".join([result.title, *result.details])
            if result.details:
                ElementTree.SubElement(case, "system-out").text = "\n".join(result.details)
    if run.interrupted:  # a pack of a stopped run must not read as a clean one in CI
        suite = ElementTree.SubElement(root, "testsuite", name="run", tests="1", failures="1", errors="0",
                                       skipped="0", time="0")
        case = ElementTree.SubElement(suite, "testcase", classname="rail.certify", name="complete run", time="0")
        ElementTree.SubElement(case, "failure", message="interrupted before every selected case ran")
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#1c2733;line-height:1.45}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-top:1px solid #ccd;padding-top:1rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #dde;padding:.3rem .5rem;text-align:left;
vertical-align:top}.passed{color:#14713a}.failed,.not-run{color:#b3261e}.not-applicable{color:#6b7280}
.verdict{font-size:1.2rem;font-weight:600;padding:.6rem 1rem;border-radius:.3rem;display:inline-block}
.ok{background:#e6f4ea}.ko{background:#fce8e6}pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;font-size:.8rem}
dt{font-weight:600}small{color:#6b7280}
"""


def report_html(run: Certification, files: dict[str, bytes]) -> str:
    """One self-contained page: the verdict first, then every case."""
    e = html.escape
    if run.interrupted:
        verdict = f"INTERRUPTED after {len(run.results)} cases: no verdict"
    elif run.passed:
        verdict = "READY: every required case passed"
    else:
        verdict = "NOT READY: a required case did not pass"
    rows = "".join(
        f"<tr><td><a href='#{e(r.id)}'>{e(r.id)}</a></td><td>{e(r.title)}</td><td>{e(_required(r))}</td>"
        f"<td class='{e(r.outcome.replace(' ', '-'))}'>{e(r.outcome)}</td><td>{r.seconds:.1f} s</td>"
        f"<td>{e(r.reason)}</td></tr>"
        for r in run.results
    )
    sections = "".join(_case_html(r, files) for r in run.results)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>rail certify: {e(run.participant)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>RAAST integration certification: {e(run.participant)}</h1>"
        f"<p class='verdict {'ok' if run.passed else 'ko'}'>{e(verdict)}</p>"
        f"<p>Rail {e(run.target)}, suite version {e(run.suite_version)}, examiner {e(run.examiner)}, "
        f"started {e(run.started_at)}, {run.seconds:.1f} s. Messages are in <code>{MESSAGES_DIR}/</code>; "
        f"<code>sha256sum -c {MANIFEST}</code> checks the pack.</p>"
        "<table><tr><th>case</th><th>what</th><th>required</th><th>outcome</th><th>time</th><th>why</th></tr>"
        f"{rows}</table>{sections}</body></html>"
    )


def _required(result: CaseResult) -> str:
    if result.condition is None:
        return "mandatory"
    return f"when: {result.condition}" + ("" if result.required else " (does not apply)")


def _case_html(result: CaseResult, files: dict[str, bytes]) -> str:
    e = html.escape
    details = "".join(f"<li>{e(d)}</li>" for d in result.details)
    timings = ", ".join(f"{e(k)} {v:g}" for k, v in result.timings.items()) or "-"
    messages = "".join(
        f"<details><summary>{m.at_s:.3f} s · {e(m.direction)} · {e(m.msg_type or 'unreadable')}"
        f"{' · HTTP ' + str(m.http_status) if m.http_status else ''} <small>{e(name)}</small></summary>"
        f"<pre>{e(m.body)}</pre></details>"
        for name, m in zip(_files_of(result, files), result.messages)
    )
    return (
        f"<h2 id='{e(result.id)}'>{e(result.id)} {e(result.role)}.{e(result.slug)}: {e(result.title)} "
        f"<span class='{e(result.outcome.replace(' ', '-'))}'>({e(result.outcome)})</span></h2>"
        + (f"<p><strong>Why:</strong> {e(result.reason)}</p>" if result.reason else "")
        + f"<ul>{details}</ul><dl><dt>Timings</dt><dd>{timings}</dd>"
        f"<dt>ISO 20022 basis</dt><dd>{e(result.iso_basis)}</dd><dt>Scheme rule</dt><dd>{e(result.rule)}</dd>"
        f"</dl><p>{len(result.messages)} messages</p>{messages}"
    )
