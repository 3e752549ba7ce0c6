#!/usr/bin/env bash
# Fails when the repository depends on one machine's folders: a tracked symbolic link that is
# absolute or points outside the repository, or a tracked text file that names an absolute folder
# of a developer's machine (/work/..., /home/..., /root/..., /Users/..., /mnt/..., /media/...,
# /srv/...). Such a path works only where it was written: a committed `data` link to
# /work/exp/data broke the README's first command on every other machine (issue 29).
#   scripts/check_repo_paths.sh [REPO]    (default: the repository this script is in)
set -euo pipefail
repo=${1:-"$(dirname "$0")/.."}
cd "$repo"
top=$(git rev-parse --show-toplevel)
cd "$top"

problems=0
report() {
  echo "check_repo_paths: $*" >&2
  problems=$((problems + 1))
}

# Symbolic links: mode 120000 in the index; their target is the blob's content.
while read -r mode object _stage path; do
  [[ "$mode" == 120000 ]] || continue
  target=$(git cat-file blob "$object")
  if [[ "$target" == /* ]]; then
    report "tracked symbolic link '$path' points to the absolute path '$target'; remove it (git rm --cached '$path')"
    continue
  fi
  resolved=$(realpath -m -- "$(dirname -- "$path")/$target")
  case "$resolved" in
    "$top" | "$top"/*) ;;
    *) report "tracked symbolic link '$path' points outside the repository ('$target')" ;;
  esac
done < <(git ls-files -s)

# Absolute folders of a developer's machine in tracked text files (-I skips binary files).
# A path is such a folder when one of these roots starts it: after a line start, a space, a
# quote, '=', '(' or ':'. System paths (/usr/..., /tmp/..., /dev/...) are allowed.
pattern='(^|[[:space:]"'"'"'=(:`])/(work|home|root|Users|mnt|media|srv)/'
while IFS= read -r hit; do
  report "machine path in a tracked file: $hit"
done < <(git grep -n -I -E "$pattern" -- . ':!scripts/check_repo_paths.sh' || true)

if [[ "$problems" -gt 0 ]]; then
  echo "check_repo_paths: $problems problem(s): the repository must not depend on one machine's folders" >&2
  exit 1
fi
echo "check_repo_paths: ok (no absolute or escaping symbolic links, no machine paths)"
