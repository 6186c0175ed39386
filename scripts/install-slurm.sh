#!/usr/bin/env bash
# Installs what a single-node Slurm needs (slurmctld, slurmd, the client commands, munge) from Debian's packages,
# without recommended packages (8 packages instead of 42). Idempotent: does nothing when all four are installed,
# so CI and scripts/slurm-local.sh can call it every time. Needs root (apt-get).
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client munge)

missing=()
for p in "${PACKAGES[@]}"; do
  # dpkg-query prints "install ok installed" only for a fully installed package.
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-slurm: ${PACKAGES[*]} already installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-slurm: missing ${missing[*]}; run this script as root (apt-get install needs it)" >&2
  exit 1
fi

echo "install-slurm: installing ${missing[*]}"
# Wait (up to 10 minutes) for another apt-get/dpkg holding the lock instead of failing at once.
apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
echo "install-slurm: installed ${missing[*]}"
