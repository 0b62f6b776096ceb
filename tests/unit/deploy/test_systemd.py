"""The systemd units `deploy render` writes: held against expected text (as datasette's
test_package does), checked by systemd-analyze verify, and safe with hostile paths."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from landingpad.deploy.render import DeployOptions
from landingpad.deploy.systemd import UNITS, render_units

OPTIONS = {"deploy_dir": "/srv/lp/deploy", "data_dir": "/srv/lp", "processes": 3,
           "sites_file": "/srv/lp/sites.toml"}
BIN = Path("/srv/lp/venv/bin")

SHARED = """\
User=landingpad
Group=www-data
Environment=LANDINGPAD_DATA_DIR=/srv/lp
Environment=LANDINGPAD_DEPLOY_DIR=/srv/lp/deploy
Environment=LANDINGPAD_SITES=/srv/lp/sites.toml
# DATABASE_URL, REDIS_URL, mail, LANDINGPAD_ACME_*, LANDINGPAD_NGINX_CONF...: one
# VAR=value a line, kept out of these generated files (the "-": optional).
EnvironmentFile=-/etc/landingpad/landingpad.env
UMask=0027
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/srv/lp
ProtectHome=yes
PrivateTmp=yes
"""

EXPECTED = {
    "landingpad-uwsgi.service": f"""\
# landingpad: the app (uWSGI), rendered by `landingpad deploy render`.
[Unit]
Description=landingpad app server (uWSGI)
After=network.target

[Service]
Type=notify
NotifyAccess=all
{SHARED}\
CapabilityBoundingSet=
ExecStartPre=/srv/lp/venv/bin/landingpad db upgrade
# uwsgi.ini has die-on-term: SIGTERM stops it. SIGHUP reloads the workers gracefully.
ExecStart=/srv/lp/venv/bin/uwsgi --ini /srv/lp/deploy/uwsgi.ini
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=2s

[Install]
WantedBy=multi-user.target
""",
    "landingpad-tls.service": f"""\
# landingpad: the certificate worker (`landingpad tls worker`), rendered by
# `landingpad deploy render`. It orders and renews; safe on every node (a lease in the
# database picks one orderer). Instead of it, `landingpad tls renew` may run from a timer.
[Unit]
Description=landingpad certificate worker (ACME)
Wants=network-online.target
After=network-online.target

[Service]
Type=exec
{SHARED}\
# When a domain gains or loses its certificate the worker re-renders nginx's maps and
# runs `nginx -t` and `nginx -s reload`, which signals nginx's master: a root process.
# Not root here: the files the worker writes (account key, certificates, SQLite's)
# would be root's, and it talks to the network all day. Not `systemctl reload nginx`:
# that is not what landingpad runs, and an unprivileged caller needs a polkit rule.
# So the app's account, plus one capability: CAP_KILL, to signal other users'
# processes. nginx re-reads its whole config on reload, so every file it names there
# (the admin TLS key, say) must be readable by this user or group, or the reload fails.
AmbientCapabilities=CAP_KILL
CapabilityBoundingSet=CAP_KILL
ExecStart=/srv/lp/venv/bin/landingpad tls worker
Restart=on-failure
RestartSec=10s

[Install]
WantedBy=multi-user.target
""",
    "landingpad-purge.service": f"""\
# landingpad: delete data past its retention time, rendered by `landingpad deploy render`.
# Started by landingpad-purge.timer.
[Unit]
Description=landingpad purge of expired data

[Service]
Type=oneshot
{SHARED}\
CapabilityBoundingSet=
ExecStart=/srv/lp/venv/bin/landingpad purge
""",
    "landingpad-purge.timer": """\
# landingpad: run landingpad-purge.service daily, rendered by `landingpad deploy render`.
[Unit]
Description=landingpad daily purge of expired data

[Timer]
OnCalendar=daily
Persistent=true
RandomizedDelaySec=1h

[Install]
WantedBy=timers.target
""",
    "landingpad-announce@.service": f"""\
# landingpad: send announcement ID, rendered by `landingpad deploy render`.
# systemctl start landingpad-announce@ID (the id `landingpad announce create` printed).
# Stopping and starting again is safe: nobody gets it twice.
[Unit]
Description=landingpad: send announcement %i
StartLimitIntervalSec=1h
StartLimitBurst=5

[Service]
Type=exec
{SHARED}\
CapabilityBoundingSet=
ExecStart=/srv/lp/venv/bin/landingpad announce send --no-progress %i
Restart=on-failure
RestartSec=60s
""",
}


def test_the_units_text():
    units = render_units(DeployOptions(**OPTIONS), bin_dir=BIN)
    assert list(units) == list(UNITS) == list(EXPECTED)
    for name, text in EXPECTED.items():
        assert units[name] == text, name


def test_user_group_and_the_running_venv():
    units = render_units(DeployOptions(**OPTIONS), user="lp-app", group="nginx")
    here = Path(sys.executable).parent  # not resolved: a venv's python is a symlink
    assert f"ExecStart={here}/landingpad tls worker\n" in units["landingpad-tls.service"]
    assert f"ExecStart={here}/uwsgi --ini " in units["landingpad-uwsgi.service"]
    for name in UNITS[:3] + UNITS[4:]:
        assert "\nUser=lp-app\nGroup=nginx\n" in units[name]


def test_paths_that_unit_hardening_would_hide_are_kept_reachable(tmp_path):
    home = DeployOptions(deploy_dir="/home/me/lp/deploy", data_dir="/home/me/lp")
    units = render_units(home, bin_dir=Path("/home/me/venv/bin"))
    assert "\nProtectHome=read-only\n" in units["landingpad-purge.service"]
    assert "\nReadWritePaths=/home/me/lp\n" in units["landingpad-purge.service"]
    # A deploy dir too long for a unix socket: the socket goes into a folder of /tmp,
    # which nginx must see, so uWSGI keeps the system's /tmp (and may write there).
    long_dir = "/srv/" + "d" * 120
    units = render_units(DeployOptions(deploy_dir=long_dir, data_dir="/srv/lp"), bin_dir=BIN)
    uwsgi = units["landingpad-uwsgi.service"]
    assert "\nPrivateTmp=no\n" in uwsgi and f"\nReadWritePaths=/srv/lp {long_dir} /tmp\n" in uwsgi
    assert "\nPrivateTmp=yes\n" in units["landingpad-tls.service"]
    # A socket in a folder of its own elsewhere: that folder is writable too.
    units = render_units(DeployOptions(deploy_dir="/srv/lp/deploy", data_dir="/srv/lp",
                                       socket="/run/landingpad/uwsgi.sock"), bin_dir=BIN)
    assert "\nReadWritePaths=/srv/lp /run/landingpad\n" in units["landingpad-uwsgi.service"]
    assert "\nReadWritePaths=/srv/lp\n" in units["landingpad-tls.service"]


HOSTILE_DIR = "/srv/lp 100% $HOME"  # a space, a specifier, a variable


def hostile_options(root: str = HOSTILE_DIR) -> DeployOptions:
    # A deploy dir with a space can't hold uWSGI's unix socket: a loopback port instead.
    return DeployOptions(deploy_dir=f"{root}/deploy", data_dir=root,
                         sites_file=f"{root}/sites.toml", socket="127.0.0.1:3031")


def test_percent_space_and_dollar_are_escaped():
    units = render_units(hostile_options(), bin_dir=Path("/opt/venv 100%/bin"))
    uwsgi = units["landingpad-uwsgi.service"]
    assert 'Environment="LANDINGPAD_DATA_DIR=/srv/lp 100%% $HOME"\n' in uwsgi  # no $ there
    assert 'Environment="LANDINGPAD_SITES=/srv/lp 100%% $HOME/sites.toml"\n' in uwsgi
    assert 'ReadWritePaths="/srv/lp 100%% $HOME"\n' in uwsgi
    # The program's path is not expanded; its arguments are: $ -> $$.
    assert ('ExecStart="/opt/venv 100%%/bin/uwsgi" --ini "/srv/lp 100%% $$HOME/deploy/uwsgi.ini"'
            in uwsgi)
    units = render_units(hostile_options(), environment_file="/etc/lp 100%/env")
    assert "EnvironmentFile=-/etc/lp 100%%/env\n" in units["landingpad-tls.service"]  # no quotes


REFUSED = r"systemd unit|absolute, normalised"


@pytest.mark.parametrize("bad", [
    "/srv/lp\nExecStartPre=/bin/sh -c evil",  # a newline starts a new setting
    "/srv/lp\r", "/srv/l\tp", "/srv/lp\x00", '/srv/"lp', "/srv/l'p", "/srv/l\\np",
    "/srv/lp\udcff",                          # not UTF-8 (a surrogate from os.fsdecode)
    "srv/lp", "/srv/../lp", "/srv/lp/", "//srv/lp", "/srv/lp ",
])
def test_hostile_paths_are_refused(bad):
    with pytest.raises(ValueError, match=REFUSED):
        render_units(DeployOptions(deploy_dir="/srv/lp/deploy", data_dir=bad,
                                   socket="127.0.0.1:3031"), bin_dir=BIN)
    if str(Path(bad)) == bad:  # Path() itself drops a trailing /
        with pytest.raises(ValueError, match=REFUSED):
            render_units(DeployOptions(**OPTIONS), bin_dir=Path(bad))
    with pytest.raises(ValueError, match=REFUSED):
        render_units(DeployOptions(**OPTIONS), bin_dir=BIN, environment_file=bad)


@pytest.mark.parametrize("name", ["root\nExecStartPre=/bin/sh", "lp app", "", "-lp", "1lp",
                                  "lp%i", "a" * 33, "lp.app", "lp$"])
def test_bad_user_or_group_names_are_refused(name):
    with pytest.raises(ValueError, match="not a user or group name"):
        render_units(DeployOptions(**OPTIONS), user=name, bin_dir=BIN)
    with pytest.raises(ValueError, match="not a user or group name"):
        render_units(DeployOptions(**OPTIONS), group=name, bin_dir=BIN)


# ./run tests installs it (Debian's systemd package); missing, the verify tests fail.
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"


def verify(units: dict[str, str], folder: Path) -> subprocess.CompletedProcess:
    """systemd-analyze verify on the units: it parses every setting and resolves the
    specifiers (an unknown one is an error) and checks that each command exists."""
    folder.mkdir(parents=True)
    for name, text in units.items():
        (folder / name).write_text(text)
    return subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *(str(folder / name) for name in units)],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0"})


def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    here = Path(sys.executable).parent
    assert (here / "landingpad").exists() and (here / "uwsgi").exists()
    units = render_units(DeployOptions(deploy_dir=str(tmp_path / "deploy"),
                                       data_dir=str(tmp_path), sites_file=""))
    result = verify(units, tmp_path / "units")
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_systemd_analyze_reads_escaped_paths_as_the_paths(tmp_path):
    # Programs in a folder with a space, a specifier (%h: the home folder) and a $:
    # verify finds them only if the quoting and the escapes give back the real path.
    root = tmp_path / "lp %h 100% $HOME"
    bin_dir = root / "venv bin"
    bin_dir.mkdir(parents=True)
    for name in ("landingpad", "uwsgi"):
        (bin_dir / name).symlink_to("/bin/true")
    units = render_units(hostile_options(str(root)), bin_dir=bin_dir,
                         environment_file=str(root / "env 100%"))
    result = verify(units, tmp_path / "units")
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    # The same units with % left as is: %h becomes a home folder, and no program is there.
    broken = {name: text.replace("%%", "%") for name, text in units.items()}
    result = verify(broken, tmp_path / "broken")
    assert result.returncode != 0 and "is not executable" in result.stderr, result.stderr


def test_deploy_render_writes_the_units(runner, data_dir):
    result = runner("deploy", "render", "--no-check", "--user", "lp", "--group", "nginx")
    assert result.exit_code == 0, result.output
    folder = data_dir / "deploy" / "systemd"
    assert sorted(p.name for p in folder.iterdir()) == sorted(UNITS)
    text = (folder / "landingpad-uwsgi.service").read_text()
    assert f" --ini {data_dir}/deploy/uwsgi.ini\n" in text
    assert "\nUser=lp\nGroup=nginx\n" in text
    result = runner("deploy", "render", "--no-check", "--user", "lp\nExecStartPre=/bin/sh")
    assert result.exit_code == 2 and "not a user or group name" in result.output


def test_the_bounce_mailbox_units_only_when_it_is_set():
    assert "landingpad-bounces.timer" not in render_units(DeployOptions(**OPTIONS), bin_dir=BIN)
    units = render_units(DeployOptions(**OPTIONS), bin_dir=BIN, bounces=True)
    assert list(units) == [*UNITS, "landingpad-bounces.service", "landingpad-bounces.timer"]
    service = units["landingpad-bounces.service"]
    assert "Type=oneshot\n" in service
    assert service.endswith("ExecStart=/srv/lp/venv/bin/landingpad bounces fetch\n")
    assert "\nUser=landingpad\n" in service and "UMask=0027" in service
    assert "OnUnitActiveSec=5min\n" in units["landingpad-bounces.timer"]


def test_the_webhook_deliverer_unit_only_with_endpoints():
    from landingpad.deploy.systemd import WEBHOOKS_UNIT

    assert WEBHOOKS_UNIT not in render_units(DeployOptions(**OPTIONS), bin_dir=BIN)
    units = render_units(DeployOptions(**OPTIONS), bin_dir=BIN, webhooks=True)
    text = units[WEBHOOKS_UNIT]
    assert "\nExecStart=/srv/lp/venv/bin/landingpad webhooks deliver\n" in text
    assert f"\n{SHARED}" in text and "\nRestart=on-failure\n" in text


def test_deploy_render_writes_the_deliverer_unit_when_a_site_has_webhooks(tmp_path):
    from click.testing import CliRunner

    from landingpad.cli import main

    data = tmp_path / "data"
    data.mkdir()
    (data / "sites.toml").write_text('[sites."a.test"]\nwebhooks = ["https://hooks.example/x"]\n')
    env = {"LANDINGPAD_DATA_DIR": str(data), "LANDINGPAD_SECRET_KEY": "k" * 40}
    result = CliRunner().invoke(main, ["deploy", "render", "--no-check"], env=env)
    assert result.exit_code == 0, result.output
    assert (data / "deploy" / "systemd" / "landingpad-webhooks.service").is_file()
