"""The example config, installed as the README says, works unchanged under the shipped unit:
every path it writes is writable in the unit's sandbox, and every file it names is put in
place by the README's install steps."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from tests.paths import REPO_ROOT
from tests.readme import scan, shell_blocks
from vmsd.cli.sandbox import Access, load_sandbox
from vmsd.config.load import load_config

UNIT = REPO_ROOT / "systemd" / "vmsd.service"
EXAMPLE = REPO_ROOT / "config" / "vmsd.example.yml"
_INSTALL_OPTIONS_WITH_VALUE = {"-m", "-g", "-o"}


def _install_steps() -> tuple[dict[str, str], set[str], list[str]]:
    """From the README's deployment block: files installed ({source: destination}),
    directories created (`install -d`), and units copied (`cp`)."""
    [block] = [b for b in shell_blocks() if b.section == "Deployment with systemd"
               and "useradd" in b.text]
    files: dict[str, str] = {}
    dirs: set[str] = set()
    copied: list[str] = []
    for event in scan(block.text):
        if event.kind != "run":
            continue
        if event.name == "install":
            words, args = list(event.words), []
            while words:
                word = words.pop(0)
                if word in _INSTALL_OPTIONS_WITH_VALUE:
                    words.pop(0)
                elif not word.startswith("-"):
                    args.append(word)
            if "-d" in event.words:
                dirs.update(args)
            else:
                files[args[0]] = args[1]
        elif event.name == "cp":
            copied.append(f"{event.words[-1].rstrip('/')}/{Path(event.words[0]).name}")
    return files, dirs, copied


def test_the_example_writes_only_where_the_unit_lets_it() -> None:
    config = load_config(EXAMPLE, environ={})
    sandbox = load_sandbox(UNIT, installed=False)
    assert sandbox.protect_system == "strict" and sandbox.user == "vmsd"
    written = [config.state_dir, *config.storage.paths]
    written += [config.mediamtx.config_path, config.secrets.key_file]
    for path in written:
        assert path is not None and path.is_absolute()
        verdict = sandbox.verdict(path)
        assert verdict.access is Access.WRITABLE, (path, verdict)
    assert sandbox.managed_dir(config.state_dir) == PurePosixPath("/var/lib/vmsd")
    listed = {r.path for r in sandbox.listed_paths if r.access is Access.WRITABLE}
    for path in config.storage.paths:
        assert any(PurePosixPath(path).is_relative_to(p) for p in listed), path


def test_the_readme_puts_in_place_every_file_the_example_names() -> None:
    files, dirs, copied = _install_steps()
    config = load_config(EXAMPLE, environ={})
    assert files["config/vmsd.example.yml"] == "/etc/vmsd/vmsd.yml"
    assert files["mediamtx.yml"] == str(config.mediamtx.base_config)
    # A ReadWritePaths= entry that does not exist stops the unit (226/NAMESPACE).
    assert {str(p) for p in config.storage.paths} <= dirs
    assert copied == ["/etc/systemd/system/vmsd.service"]
    for source in files:
        assert (REPO_ROOT / source).is_file(), source


def test_unit_parsing_follows_systemd(tmp_path: Path) -> None:
    unit = tmp_path / "vmsd.service"
    unit.write_text(
        "[Unit]\nReadWritePaths=/not/a/service/key\n"
        "[Service]\nUser=vmsd\nProtectSystem=strict\nProtectHome=yes\nPrivateTmp=yes\n"
        "ReadWritePaths=/var/lib/vmsd \\\n  -/srv/a\nStateDirectory=vmsd\n"
        "ReadOnlyPaths=/srv/a/archive\n",
        encoding="utf-8",
    )
    drop_ins = tmp_path / "vmsd.service.d"
    drop_ins.mkdir()
    (drop_ins / "10-storage.conf").write_text(
        "[Service]\nReadWritePaths=/mnt/disk1\nUser=nvr\n", encoding="utf-8"
    )
    (drop_ins / "20-reset.conf").write_text("[Service]\nReadOnlyPaths=\n", encoding="utf-8")
    sandbox = load_sandbox(unit, installed=False)
    assert sandbox.files == (unit, drop_ins / "10-storage.conf", drop_ins / "20-reset.conf")
    assert sandbox.user == "nvr"  # a later scalar wins
    cases = {
        "/srv/a/cam": Access.WRITABLE,  # "-" only makes it optional
        "/srv/a/archive/x": Access.WRITABLE,  # the empty ReadOnlyPaths= reset the list
        "/mnt/disk1/rec": Access.WRITABLE,  # lists accumulate across drop-ins
        "/srv/b": Access.READ_ONLY,
        "/etc/vmsd/recordings": Access.READ_ONLY,
        "/root/rec": Access.INACCESSIBLE,
        "/tmp/rec": Access.WRITABLE,  # PrivateTmp: private, but writable
        "/not/a/service/key": Access.READ_ONLY,
    }
    for path, access in cases.items():
        assert sandbox.verdict(Path(path)).access is access, path
    assert sandbox.verdict(Path("/etc/vmsd/recordings")).why == "ProtectSystem=strict"
    assert [(str(r.path), r.optional) for r in sandbox.listed_paths] == [
        ("/var/lib/vmsd", False), ("/srv/a", True), ("/mnt/disk1", False)
    ]
    assert sandbox.managed_dir(Path("/var/lib/vmsd/db")) == PurePosixPath("/var/lib/vmsd")
