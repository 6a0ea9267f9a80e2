# The orphan guard (see orphan-guard.ts). stdin is a pipe from the launcher carrying lines
#   add <SIGNAL> <pid>    watch pid ("-pgid" for a whole process group)
#   del - <pid>           forget it (it ended on its own; its pid may be reused)
# End of input means the launcher is gone: signal everything still watched, give it up to 15 s,
# then SIGKILL what is left. Only builtins until then, so the guard stays one small process.
trap '' INT HUP
list=" "
while read -r op sig pid; do
  case "$op" in
    add) list="$list$sig:$pid " ;;
    del) new=" "; for e in $list; do [ "${e#*:}" = "$pid" ] || new="$new$e "; done; list=$new ;;
  esac
done
for e in $list; do kill -s "${e%%:*}" -- "${e#*:}" 2>/dev/null; done
i=0
while [ $i -lt 30 ]; do
  alive=""
  for e in $list; do kill -0 -- "${e#*:}" 2>/dev/null && alive=1; done
  [ -z "$alive" ] && exit 0
  sleep 0.5
  i=$((i + 1))
done
for e in $list; do kill -s KILL -- "${e#*:}" 2>/dev/null; done
