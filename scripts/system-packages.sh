#!/usr/bin/env bash
# The Debian packages imgforge builds, runs and is tested with: nasm (libjpeg's x86 SIMD is
# assembled with it; without it JPEG work is 1.3-2.7x slower), Tesseract with its English model
# (text extraction on the local backend), and Chromium with its WebDriver (the console's browser
# test). Installs what is missing when run as root, else stops with the command to run.
set -euo pipefail

needed=()
if [ "$(uname -m)" = x86_64 ] && ! command -v nasm >/dev/null; then
  needed+=(nasm)
fi
command -v tesseract >/dev/null || needed+=(tesseract-ocr)
ls /usr/share/tesseract-ocr/*/tessdata/eng.traineddata >/dev/null 2>&1 || needed+=(tesseract-ocr-eng)
command -v chromium >/dev/null || needed+=(chromium)
command -v chromedriver >/dev/null || needed+=(chromium-driver)
[ ${#needed[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ]; then
  echo "installing ${needed[*]}" >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${needed[@]}" >/dev/null
else
  echo "imgforge needs these system packages: sudo apt-get install ${needed[*]}" >&2
  exit 1
fi
