"""Built-in pieces of a notebook instance's lifecycle scripts (pure text, no CDK).

Each function returns a self-contained bash fragment for the on-start script. Lifecycle
scripts run as root and the on-start script must finish within 5 minutes, so anything slow
is started in the background with ``nohup ... &``. The instance's name, region and account
are read at run time from ``/opt/ml/metadata/resource-metadata.json``, so the fragments hold
no deploy-time values except those passed in (which may be CDK tokens).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

__all__ = [
    "SCRIPT_HEADER",
    "code_artifact_index_fragment",
    "compose",
    "conda_packages_fragment",
    "idle_shutdown_fragment",
    "s3_backup_fragment",
    "url_index_fragment",
]

SCRIPT_HEADER = "#!/bin/bash\nset -euo pipefail\n"

#: Restores bash defaults before the user's script, which then behaves as if run alone.
_USER_SCRIPT_SEPARATOR = "\n# --- user script ---\nset +e +u +o pipefail\n"

#: Reads the instance's name, region and account from the notebook metadata file.
_METADATA = """\
SMC_METADATA=/opt/ml/metadata/resource-metadata.json
SMC_NAME="$(/usr/bin/python3 -c 'import json;print(json.load(open("/opt/ml/metadata/resource-metadata.json"))["ResourceName"])')"
SMC_REGION="$(/usr/bin/python3 -c 'import json;print(json.load(open("/opt/ml/metadata/resource-metadata.json"))["ResourceArn"].split(":")[3])')"
SMC_ACCOUNT="$(/usr/bin/python3 -c 'import json;print(json.load(open("/opt/ml/metadata/resource-metadata.json"))["ResourceArn"].split(":")[4])')"
SMC_AWS="$(command -v aws || echo /usr/local/bin/aws)"
export SMC_METADATA SMC_NAME SMC_REGION SMC_ACCOUNT SMC_AWS
"""  # noqa: E501

#: ``smc_schedule NAME CRON CALENDAR COMMAND`` runs COMMAND as root on a schedule: a crontab
#: entry, or a systemd timer where the image has no cron (Amazon Linux 2023 may ship without).
_SCHEDULE = r"""
smc_schedule() {
  local name="$1" cron="$2" calendar="$3" command="$4"
  printf '#!/bin/bash\n%s\n' "${command}" > "/usr/local/bin/${name}-job"
  chmod 755 "/usr/local/bin/${name}-job"
  if command -v crontab >/dev/null 2>&1; then
    ( crontab -l 2>/dev/null | grep -v "# smc:${name}$" || true
      echo "${cron} /usr/local/bin/${name}-job # smc:${name}" ) | crontab -
  else
    printf '[Unit]\nDescription=%s\n[Service]\nType=oneshot\nExecStart=/usr/local/bin/%s-job\n' \
      "${name}" "${name}" > "/etc/systemd/system/${name}.service"
    printf '[Unit]\nDescription=%s\n[Timer]\nOnCalendar=%s\nPersistent=true\n[Install]\nWantedBy=timers.target\n' \
      "${name}" "${calendar}" > "/etc/systemd/system/${name}.timer"
    systemctl daemon-reload
    systemctl enable --now "${name}.timer"
  fi
}
"""  # noqa: E501


_IDLE_CHECK = r'''
mkdir -p /var/lib/smc
cat > /usr/local/bin/smc-idle-shutdown.py <<'SMC_IDLE_EOF'
"""Stop this notebook instance when Jupyter has been idle for IDLE_SECONDS."""
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone

IDLE_SECONDS = int(sys.argv[1])
AWS = sys.argv[2]
STATE = os.environ.get("SMC_STATE", "/var/lib/smc/last-activity")
API = os.environ.get("SMC_JUPYTER_API", "https://localhost:8443/api/")
METADATA = json.load(open(os.environ.get("SMC_METADATA", "/opt/ml/metadata/resource-metadata.json")))
NAME = METADATA["ResourceName"]
REGION = METADATA["ResourceArn"].split(":")[3]


def api(path):
    context = ssl.create_default_context()
    context.check_hostname = False  # Jupyter's own self-signed certificate, on localhost
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(API + path, context=context, timeout=30) as r:
        return json.load(r)


def seconds(stamp):
    return datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


def last_activity(now):
    latest = 0.0
    kernels = list(api("kernels"))
    kernels += [s["kernel"] for s in api("sessions") if s.get("kernel")]
    for kernel in kernels:
        if kernel.get("execution_state") == "busy":
            return now
        if kernel.get("last_activity"):
            latest = max(latest, seconds(kernel["last_activity"]))
    try:
        for terminal in api("terminals"):
            if terminal.get("last_activity"):
                latest = max(latest, seconds(terminal["last_activity"]))
    except Exception:
        pass
    return latest


def main():
    now = time.time()
    try:
        stored = float(open(STATE).read().strip())
    except (OSError, ValueError):
        stored = now  # first check after a start: the idle clock starts now
    latest = max(stored, last_activity(now))
    with open(STATE, "w") as f:
        f.write(str(latest))
    idle = now - latest
    print(f"{datetime.now(timezone.utc).isoformat()} idle for {idle:.0f}s of {IDLE_SECONDS}s")
    if idle < IDLE_SECONDS:
        return
    status = subprocess.run(
        [AWS, "sagemaker", "describe-notebook-instance", "--region", REGION,
         "--notebook-instance-name", NAME, "--query", "NotebookInstanceStatus", "--output", "text"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    if status == "InService":
        print(f"stopping {NAME}: idle for {idle:.0f}s")
        os.remove(STATE)
        subprocess.run([AWS, "sagemaker", "stop-notebook-instance", "--region", REGION,
                        "--notebook-instance-name", NAME], check=True)


main()
SMC_IDLE_EOF
rm -f /var/lib/smc/last-activity
'''  # noqa: E501


def compose(fragments: Sequence[str], user_script: str | None) -> str:
    """One on-start (or on-create) script: the header, the fragments, then the user's script.

    The user's script runs last, unchanged (its own shebang line is then just a comment).
    """
    parts = [SCRIPT_HEADER]
    if fragments:
        parts.append(_METADATA)
        parts.append(_SCHEDULE)
        parts.extend(fragments)
    if user_script is not None:
        parts.append(_USER_SCRIPT_SEPARATOR)
        parts.append(user_script if user_script.endswith("\n") else user_script + "\n")
    return "".join(parts)


def idle_shutdown_fragment(idle_minutes: int) -> str:
    """Every 5 minutes, stop the instance after ``idle_minutes`` without Jupyter activity.

    Activity is read from Jupyter's ``/api/kernels``, ``/api/sessions`` and ``/api/terminals``
    (a busy kernel counts as activity now). Needs ``sagemaker:DescribeNotebookInstance`` and
    ``sagemaker:StopNotebookInstance`` on the instance itself.
    """
    seconds = idle_minutes * 60
    return (
        "\n# --- stop the instance when idle ---\n"
        + _IDLE_CHECK
        + f'smc_schedule smc-idle-shutdown "*/5 * * * *" "*:0/5" '
        f'"/usr/bin/python3 /usr/local/bin/smc-idle-shutdown.py {seconds} ${{SMC_AWS}} '
        f'>> /var/log/smc-idle-shutdown.log 2>&1"\n'
    )


def url_index_fragment(index_url: str) -> str:
    """Sets ``SMC_INDEX_URL`` to a fixed package index URL."""
    return f"SMC_INDEX_URL={shlex.quote(index_url)}\n"


def code_artifact_index_fragment(domain: str, repository: str, domain_owner: str | None) -> str:
    """Sets ``SMC_INDEX_URL`` to a CodeArtifact PyPI repository with a fresh token.

    The domain owner defaults to the instance's own account, the region is the instance's.
    """
    owner = shlex.quote(domain_owner) if domain_owner else '"${SMC_ACCOUNT}"'
    return (
        f"SMC_CA_OWNER={owner}\n"
        f'SMC_CA_TOKEN="$("${{SMC_AWS}}" codeartifact get-authorization-token '
        f'--region "${{SMC_REGION}}" --domain {shlex.quote(domain)} '
        f'--domain-owner "${{SMC_CA_OWNER}}" --query authorizationToken --output text)"\n'
        f'SMC_INDEX_URL="https://aws:${{SMC_CA_TOKEN}}@{domain}-${{SMC_CA_OWNER}}'
        f'.d.codeartifact.${{SMC_REGION}}.amazonaws.com/pypi/{repository}/simple/"\n'
    )


def conda_packages_fragment(environment: str, packages: Sequence[str], index_fragment: str) -> str:
    """Install pinned packages with pip into conda environment ``environment``, in background.

    A missing environment is cloned offline from the image's ``python3`` environment (which
    brings ``ipykernel``, so Jupyter lists it as ``conda_<environment>``). Conda channels are
    not used: packages come from the index that ``index_fragment`` sets. Environments outside
    ``/home/ec2-user/SageMaker`` do not survive a stop, hence this runs at every start. All of
    it (token included) runs in the background, so a slow index never delays the start.
    """
    pins = " ".join(shlex.quote(p) for p in packages)
    env = shlex.quote(environment)
    return (
        "\n# --- install pinned packages into a conda environment (background) ---\n"
        "cat > /usr/local/bin/smc-conda-packages.sh <<'SMC_CONDA_EOF'\n"
        "#!/bin/bash\n"
        "set -eo pipefail  # not -u: conda's activation scripts read unset variables\n"
        'SMC_INDEX_URL="$(cat /home/ec2-user/.smc-index-url)"\n'
        "rm -f /home/ec2-user/.smc-index-url\n"
        "source /home/ec2-user/anaconda3/bin/activate\n"
        f"if ! conda env list | awk '{{print $1}}' | grep -qx {env}; then\n"
        f"  conda create --yes --quiet --offline --name {env} --clone python3\n"
        "fi\n"
        f"conda activate {env}\n"
        'pip install --no-input --disable-pip-version-check --index-url "${SMC_INDEX_URL}" "$@"\n'
        'echo "installed into conda environment ${CONDA_DEFAULT_ENV}: $*"\n'
        "SMC_CONDA_EOF\n"
        "cat > /usr/local/bin/smc-conda-packages-root.sh <<'SMC_CONDA_ROOT_EOF'\n"
        "#!/bin/bash\n"
        "set -euo pipefail\n"
        + index_fragment
        + "install -m 600 -o ec2-user -g ec2-user /dev/null /home/ec2-user/.smc-index-url\n"
        "printf '%s' \"${SMC_INDEX_URL}\" > /home/ec2-user/.smc-index-url\n"
        'sudo -u ec2-user -i /usr/local/bin/smc-conda-packages.sh "$@"\n'
        "SMC_CONDA_ROOT_EOF\n"
        "chmod 755 /usr/local/bin/smc-conda-packages.sh /usr/local/bin/smc-conda-packages-root.sh\n"
        f"nohup /usr/local/bin/smc-conda-packages-root.sh {pins} "
        ">> /var/log/smc-conda-packages.log 2>&1 &\n"
    )


def s3_backup_fragment(bucket_name: str, prefix: str, cron: str, calendar: str) -> str:
    """Sync ``/home/ec2-user/SageMaker`` to ``s3://bucket/prefix/`` on a schedule (cron).

    Runs ``aws s3 sync`` without ``--delete`` (deleted files stay in the backup), skips
    checkpoints and never overlaps itself (``flock``).
    """
    destination = f"s3://{bucket_name}/{prefix}/"
    return (
        "\n# --- back up the work folder to S3 on a schedule ---\n"
        "cat > /usr/local/bin/smc-s3-backup.sh <<'SMC_BACKUP_EOF'\n"
        "#!/bin/bash\n"
        "set -euo pipefail\n"
        "exec 9>/var/lock/smc-s3-backup.lock\n"
        "flock -n 9 || exit 0\n"
        '"$1" s3 sync /home/ec2-user/SageMaker "$2" --region "$3" --only-show-errors '
        "--exclude '*.ipynb_checkpoints/*' --exclude '.sparkmagic/*' --exclude 'lost+found/*'\n"
        "SMC_BACKUP_EOF\n"
        "chmod 755 /usr/local/bin/smc-s3-backup.sh\n"
        f'smc_schedule smc-s3-backup "{cron}" "{calendar}" '
        f'"/usr/local/bin/smc-s3-backup.sh ${{SMC_AWS}} {shlex.quote(destination)} ${{SMC_REGION}} '
        f'>> /var/log/smc-s3-backup.log 2>&1"\n'
    )
