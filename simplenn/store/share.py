"""Checks and publishing of contributed runs: complete, nothing private, published to results/machines/<slug>/.

Publishing is an allow-list, not a copy: only run.json and samples.jsonl are taken from the run folder (never
run.lock, which holds the writer's command line, nor a report whose text carries the folder's name); the command
regenerates the report from them inside a staging folder named like the destination, the privacy scan then reads
every file that would be published, and only then is the staging folder renamed into place.

Pure apart from the files: the caller passes the host and user names to look for, so tests feed any fingerprint.
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from simplenn.core import files
from simplenn.core.errors import FieldError, UsageError
from simplenn.store.runfolder import RUN_FILE, SAMPLES_FILE, read_meta, read_records

PUBLISHED = (RUN_FILE, SAMPLES_FILE)  # taken from the run folder; everything else is regenerated from them
MACHINES_DIR = "machines"
# Keys that name a person or one physical machine; refused wherever they sit and whatever their value (unless empty).
PRIVATE_KEYS = {
    "hostname": "hostname", "host_name": "hostname", "host": "hostname", "nodename": "hostname",
    "node": "hostname", "computer_name": "hostname", "computername": "hostname", "localhostname": "hostname",
    "user": "user name", "username": "user name", "user_name": "user name", "login": "user name",
    "logname": "user name", "owner": "user name", "home": "home path",
    "serial": "serial number", "serial_number": "serial number", "serialnumber": "serial number",
    "uuid": "hardware UUID", "hardware_uuid": "hardware UUID", "platform_uuid": "hardware UUID",
    "ioplatformuuid": "hardware UUID", "provisioning_udid": "hardware UUID", "udid": "hardware UUID",
    "machine_id": "hardware UUID",
}
_HOME = re.compile(r"(?:/Users/|/home/|/var/home/|[A-Za-z]:\\Users\\)[^/\\\s]+|/root(?=/|\s|$)|~[A-Za-z_][\w.-]*")
_UUID = re.compile(r"\b[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}\b")
# Apple serial numbers: 10–12 letters and digits (both present, in either case: a careless copy lower-cases them),
# e.g. C02XK0XXJGH5. Not serials: hex strings (short git hashes), widths labels such as w1024x1024 and Mac model
# identifiers such as MacBookAir10,1.
_SERIAL = re.compile(r"\b(?=[A-Za-z0-9]*\d[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{10,12}\b")
_NOT_SERIAL = re.compile(r"[0-9A-Fa-f]+|[A-Za-z]{0,3}\d+(?:[xX]\d+)+|(?i:macbook(?:air|pro)?|macmini|macpro|imac(?:pro)?|mac)\d+")
# Bonjour names (Janes-MacBook-Air.local) are hostnames whoever runs the check.
_LOCAL_HOST = re.compile(r"\b[\w-]+\.local\b")
_EMAIL = re.compile(r"[\w.+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}\b")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\w|\.\d)")
_HEX4 = r"[0-9A-Fa-f]{1,4}"
_IPV6 = re.compile(rf"(?<![\w:.])(?:(?:{_HEX4}:){{7}}{_HEX4}|(?:{_HEX4}:){{1,6}}(?::{_HEX4}){{1,6}}|(?:{_HEX4}:){{1,7}}:"
                   rf"|:(?::{_HEX4}){{1,7}})(?![\w:])")
_MAC = re.compile(r"(?<![\w:-])[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![\w:-])")
# Addresses that name no machine: loopback and "any".
_HARMLESS = {"127.0.0.1", "0.0.0.0", "::1", "::"}


def _found(pattern: re.Pattern, text: str, keep=lambda m: True) -> bool:
    return any(keep(m.group(0)) for m in pattern.finditer(text))


def private_text(text: str, names: list[tuple[str, str]] = (), allowed: Iterable[str] = ()) -> str | None:
    """What private thing `text` contains ('a home path', 'an e-mail address', …) or None.

    `names` are (hostname or user name, what) pairs to look for; `allowed` values (the run's own random run id)
    are not private and are removed first.
    """
    for value in allowed:
        if value:
            text = text.replace(value, "")
    checks = [(_HOME, "a home path", None), (_EMAIL, "an e-mail address", None), (_UUID, "a hardware UUID", None),
              (_MAC, "a MAC address", None), (_IPV4, "an IP address", lambda v: v not in _HARMLESS),
              (_IPV6, "an IP address", lambda v: v not in _HARMLESS),
              (_SERIAL, "a serial number", lambda v: not _NOT_SERIAL.fullmatch(v)),
              (_LOCAL_HOST, "a hostname", None)]
    checks += [(re.compile(rf"(?<![\w-]){re.escape(n)}(?![\w-])", re.I), f"the {what}", None) for n, what in names]
    for pattern, what, keep in checks:
        if _found(pattern, text, keep or (lambda v: True)):
            return what
    return None


def _walk(value, path: str) -> Iterator[tuple[str, str | None, object]]:
    """(path, key, value) for every leaf and every keyed entry of nested dicts and lists."""
    if isinstance(value, dict):
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            yield sub, str(k), v
            yield from _walk(v, sub)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, None, value


def _names(hostname: str | None, username: str | None) -> list[tuple[str, str]]:
    return [(n, what) for n, what in ((hostname, "hostname"), (username, "user name"))
            if n and len(n) >= 3 and n.lower() not in {"localhost", "root", "runner", "user", "admin"}]


def private_fields(data, where: str, hostname: str | None = None, username: str | None = None,
                   allowed: Iterable[str] = ()) -> list[str]:
    """One line per private value found in `data` (a run.json or a record): '<where> <field>: <what>'."""
    names, allowed = _names(hostname, username), tuple(allowed)
    found = []
    for path, key, value in _walk(data, ""):
        if key is not None:
            what = PRIVATE_KEYS.get(key.lower().replace("-", "_"))
            if what and value not in (None, "", [], {}):
                found.append(f"{where} {path}: a {what} field")
            continue
        if not isinstance(value, str):
            continue
        what = private_text(value, names, allowed)
        if what:
            found.append(f"{where} {path}: contains {what}")
    return found


def _png_text(data: bytes) -> str:
    """The text chunks (tEXt, zTXt, iTXt) of a PNG: the only part of a chart that holds text as text."""
    out, pos = [], 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"tEXt":
            out.append(body.decode("latin-1"))
        elif kind == b"zTXt":
            key, _, rest = body.partition(b"\0")
            out.append(key.decode("latin-1") + " " + zlib.decompress(rest[1:]).decode("latin-1", "replace"))
        elif kind == b"iTXt":
            out.append(body.decode("utf-8", "replace"))
        pos += 12 + length
    return "\n".join(out)


def scan_file(path: Path, hostname: str | None = None, username: str | None = None,
              allowed: Iterable[str] = ()) -> list[str]:
    """One line per private value in a file to be published: JSON by field, JSON lines by record, text by line."""
    names, allowed = _names(hostname, username), tuple(allowed)
    name = path.name
    if name.endswith(".json"):
        return private_fields(json.loads(path.read_text()), name, hostname, username, allowed)
    if name.endswith(".jsonl"):
        found = []
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                found += private_fields(json.loads(line), f"{name} record {i}", hostname, username, allowed)
        return found
    if name.endswith(".png"):
        what = private_text(_png_text(path.read_bytes()), names, allowed)
        return [f"{name} (image metadata): contains {what}"] if what else []
    if name.endswith((".md", ".csv", ".txt")):
        found = []
        for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            what = private_text(line, names, allowed)
            if what:
                found.append(f"{name} line {i}: contains {what}")
        return found
    return [f"{name}: not a file share publishes"]  # the allow-list is enforced here too


def check_private_folder(folder: Path, meta: dict, hostname: str | None, username: str | None) -> None:
    """Refuse to publish `folder` unless no file in it holds a hostname, user name, address, serial or UUID."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        found += scan_file(path, hostname, username, allowed=[meta.get("run_id") or ""])
    _refuse(folder, found)


def _refuse(where: Path, found: list[str]) -> None:
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise UsageError(f"{where}: private data, not shared: {found[0]}{more}; remove it and try again")


def check_complete(run_dir: Path) -> dict:
    """run.json of a finished run whose every planned cell is recorded; UsageError saying what is missing."""
    meta = read_meta(run_dir)
    if meta.get("status") != "complete":
        raise UsageError(f"{run_dir}: the run is not complete (status {meta.get('status')!r}); finish it with "
                         f"`simplenn-bench run --resume {run_dir}` first")
    records, notes = read_records(run_dir)
    if notes:
        raise UsageError(f"{run_dir}: {notes[0]}; resume or redo the run")
    recorded = {(r.get("seq"), r.get("id")) for r in records if r.get("kind") == "cell"}
    missing = [p["id"] for p in meta.get("plan", []) if (p["seq"], p["id"]) not in recorded]
    if not meta.get("plan") or missing:
        what = f"{len(missing)} planned cells have no record (first: {missing[0]})" if missing else "no stored plan"
        raise UsageError(f"{run_dir}: the run is incomplete: {what}")
    return meta


def check_private(run_dir: Path, meta: dict, hostname: str | None, username: str | None) -> None:
    """Refuse a run whose run.json or samples hold a hostname, user name, home path, serial number or UUID."""
    allowed = [meta.get("run_id") or ""]
    found = private_fields(meta, RUN_FILE, hostname, username, allowed)
    records, _ = read_records(run_dir)
    for i, rec in enumerate(records, 1):
        found += private_fields(rec, f"{SAMPLES_FILE} record {i}", hostname, username, allowed)
    _refuse(run_dir, found)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "-", text.lower()).strip("-")


def folder_name(meta: dict) -> str:
    """`<chip>-<gpu cores>c-<date>` (e.g. m2-pro-19c-2026-11-28), else `<os>-<arch>-<n>cpu-<date>`."""
    fp = meta.get("machine") or {}
    date = str(meta.get("created", ""))[:10] or "undated"
    chip = fp.get("chip")
    if chip:
        name = _slug(re.sub(r"^Apple\s+", "", chip))
        return f"{name}-{fp['gpu_cores']}c-{date}" if fp.get("gpu_cores") else f"{name}-{date}"
    os_name = {"Darwin": "macos"}.get(fp.get("os"), fp.get("os") or "unknown")
    cpus = fp.get("cores_logical")
    return _slug(f"{os_name}-{fp.get('arch') or 'unknown'}") + (f"-{cpus}cpu" if cpus else "") + f"-{date}"


def check_dest(run_dir: Path, root: Path) -> None:
    """Refuse a results root inside the run folder (`cd RUN; share .` would publish the run into itself)."""
    run, dest = run_dir.resolve(), root.resolve()
    if dest == run or run in dest.parents:
        raise FieldError("dest", f"{root} is inside the run folder {run}; run share from your checkout of "
                                 f"simplenn-bench (cd there; simplenn-bench share {shlex.quote(str(run))}) or give "
                                 "{dest} <checkout>/results", ("dest",))


def check_not_shared(machines: Path, meta: dict) -> None:
    """Refuse a run already published under machines/ (by run id): shared twice, a cross-machine report refuses it."""
    run_id = meta.get("run_id")
    if not run_id or not machines.is_dir():
        return
    for other in sorted(machines.glob(f"*/{RUN_FILE}")):
        try:
            other_id = json.loads(other.read_text()).get("run_id")
        except (OSError, ValueError, AttributeError):
            continue
        if other_id == run_id:
            raise UsageError(f"this run (run id {run_id}) is already shared as {other.parent}; one run is shared once")


@contextmanager
def staging(dest: Path) -> Iterator[Path]:
    """A folder named like `dest` inside a temporary sibling; renamed to `dest` when the block succeeds, removed
    (whatever happened) when it fails: never half a published folder, never over one."""
    if dest.exists():
        raise FieldError("dest", f"{dest} already exists; it is not overwritten (choose another {{name}})", ("name",))
    files.ensure_dir(dest.parent, "dest")
    try:
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
    except OSError as e:
        raise files.write_error(dest.parent, e, "dest", "cannot write into") from None
    try:
        stage = tmp / dest.name
        stage.mkdir()
        yield stage
        stage.rename(dest)
    except OSError as e:
        raise files.write_error(dest, e, "dest") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def copy_published(run_dir: Path, stage: Path) -> None:
    """Copy the allow-listed files of the run folder (PUBLISHED) into the staging folder, nothing else."""
    for name in PUBLISHED:
        try:
            shutil.copyfile(run_dir / name, stage / name)
        except OSError as e:
            raise files.write_error(stage / name, e, "dest", f"cannot copy {run_dir / name} to") from None


def git_commands(dest: Path, meta: dict) -> list[str]:
    """The commands that submit a shared run folder as a pull request."""
    preset = meta.get("preset") or {}
    grid = f"preset {preset['name']} v{preset['version']}" if preset else "custom grid"
    label = (meta.get("machine") or {}).get("label", dest.name)
    branch = shlex.quote(f"results/{dest.name}")
    return [f"git switch -c {branch}",
            f"git add {shlex.quote(str(dest))}",  # a checkout path may hold spaces
            f"git commit -m {shlex.quote(f'results: {label} ({grid})')}",
            f"git push -u origin {branch}",
            "then open a pull request for that branch"]
