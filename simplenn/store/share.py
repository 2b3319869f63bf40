"""Checks and copying for contributed runs: complete, nothing private, copied whole to results/machines/<slug>/.

Pure apart from the copy: the caller passes the host and user names to look for, so tests feed any fingerprint.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from simplenn.core.errors import UsageError
from simplenn.store.profiles import TRACES_DIR
from simplenn.store.results import RUN_FILE, SAMPLES_FILE, read_meta, read_records

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
_UUID = re.compile(r"\b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b")
# Apple serial numbers: 10–12 upper-case letters and digits (both present), e.g. C02XK0XXJGH5.
_SERIAL = re.compile(r"\b(?=[A-Z0-9]*\d[A-Z0-9]*\d)(?=[A-Z0-9]*[A-Z][A-Z0-9]*[A-Z])[A-Z0-9]{10,12}\b")
# Bonjour names (Janes-MacBook-Air.local) are hostnames whoever runs the check.
_LOCAL_HOST = re.compile(r"\b[\w-]+\.local\b")


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


def private_fields(data, where: str, hostname: str | None = None, username: str | None = None) -> list[str]:
    """One line per private value found in `data` (a run.json or a record): '<where> <field>: <what>'."""
    names = [(n, what) for n, what in ((hostname, "hostname"), (username, "user name"))
             if n and len(n) >= 3 and n.lower() not in {"localhost", "root", "runner", "user", "admin"}]
    found = []
    for path, key, value in _walk(data, ""):
        if key is not None:
            what = PRIVATE_KEYS.get(key.lower().replace("-", "_"))
            if what and value not in (None, "", [], {}):
                found.append(f"{where} {path}: a {what} field")
            continue
        if not isinstance(value, str):
            continue
        checks = [(_HOME, "a home path"), (_UUID, "a hardware UUID"), (_SERIAL, "a serial number"),
                  (_LOCAL_HOST, "a hostname")]
        checks += [(re.compile(rf"(?<![\w-]){re.escape(n)}(?![\w-])", re.I), f"the {what}") for n, what in names]
        for pattern, what in checks:
            if pattern.search(value):
                found.append(f"{where} {path}: contains {what}")
                break
    return found


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
    found = private_fields(meta, RUN_FILE, hostname, username)
    records, _ = read_records(run_dir)
    for i, rec in enumerate(records, 1):
        found += private_fields(rec, f"{SAMPLES_FILE} record {i}", hostname, username)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise UsageError(f"{run_dir}: private data, not shared: {found[0]}{more}; remove it and try again")


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


def copy_run(run_dir: Path, dest: Path) -> None:
    """Copy the run folder (not its traces/) to `dest` through a temporary sibling and a rename: never half a copy."""
    if dest.exists():
        raise UsageError(f"--dest: {dest} already exists; it is not overwritten (choose another --name)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
    try:
        # Raw profiler traces stay behind: they are large and an XSpace names the host it was recorded on.
        shutil.copytree(run_dir, tmp, dirs_exist_ok=True,
                        ignore=lambda d, names: [TRACES_DIR] if Path(d) == Path(run_dir) and TRACES_DIR in names else [])
        tmp.rename(dest)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UsageError(f"--dest: could not copy {run_dir} to {dest} ({e.strerror or e})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def git_commands(dest: Path, meta: dict) -> list[str]:
    """The commands that submit a shared run folder as a pull request."""
    preset = meta.get("preset") or {}
    grid = f"preset {preset['name']} v{preset['version']}" if preset else "custom grid"
    label = (meta.get("machine") or {}).get("label", dest.name)
    return [f"git switch -c results/{dest.name}",
            f"git add {dest}",
            f'git commit -m "results: {label} ({grid})"',
            f"git push -u origin results/{dest.name}",
            "then open a pull request for that branch"]
