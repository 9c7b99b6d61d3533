#!/usr/bin/env bash
# The photographs the analysis tests run the models on, from Debian's wallpaper package (the
# benchmark uses the same package): a table of coffee cups, whose label is known ("cup"), and a
# lake at dusk, the background of the cut-out test. Into DIR (default .models/photos).
set -euo pipefail
dir=${1:-.models/photos}
[ -f "$dir/ColorfulCups.jpg" ] && [ -f "$dir/DarkestHour.jpg" ] && exit 0
mkdir -p "$dir"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
if ! (cd "$scratch" && apt-get download -q plasma-workspace-wallpapers >/dev/null 2>&1); then
  # A fresh machine has no package lists yet.
  if [ "$(id -u)" = 0 ]; then apt-get update -q >/dev/null; fi
  (cd "$scratch" && apt-get download -q plasma-workspace-wallpapers >/dev/null)
fi
dpkg-deb -x "$scratch"/plasma-workspace-wallpapers_*.deb "$scratch/extracted"
wallpapers="$scratch/extracted/usr/share/wallpapers"
cp "$wallpapers/ColorfulCups/contents/images/2560x1600.jpg" "$dir/ColorfulCups.jpg"
cp "$wallpapers/DarkestHour/contents/images/2560x1440.jpg" "$dir/DarkestHour.jpg"
echo "test photos in $dir" >&2
