#!/usr/bin/env bash
# Installs the system packages Kiln's build and scripts use (Debian). The Swift toolchain is expected on PATH.
set -euo pipefail
need=()
for cmd in unzip sha256sum python3 make; do
    command -v "$cmd" >/dev/null 2>&1 || need+=("$cmd")
done
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then need+=(python3-venv); fi
if [ ${#need[@]} -gt 0 ]; then
    pkgs=()
    for n in "${need[@]}"; do
        case "$n" in
            sha256sum) pkgs+=(coreutils) ;;
            python3) pkgs+=(python3 python3-pip) ;;
            *) pkgs+=("$n") ;;
        esac
    done
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${pkgs[@]}"
fi
command -v swift >/dev/null 2>&1 || { echo "error: swift is not on PATH (Kiln needs Swift 6.1 or newer)" >&2; exit 1; }
