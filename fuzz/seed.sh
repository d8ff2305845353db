#!/usr/bin/env bash
# Regenerates the committed seeds, corpus/{openim,tencent}/<case>.txt, from the dialects' golden
# fixtures (host/dialects/tests/fixtures), in the input format of src/lib.rs:
#   <path>?<query> <operationID>\n<body>[\n---\n<modify>]
# Tencent fixtures bring their own `modify`; the OpenIM ones get one below where the command
# accepts a modification. Needs jq.
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../host/dialects/tests/fixtures

# OpenIM modifications a plugin would plausibly send (each accepted by openim::check_modify).
declare -A openim_modify=(
    [msg_modify]='{"content":"{\"content\":\"masked\"}","ex":null}'
    [set_group_info]='{"groupName":"renamed","introduction":"","needVerification":1}'
    [set_group_info_ex]='{"groupName":null,"lookMemberInfo":0}'
    [conversation_single]='{"recvMsgOpt":1,"isPinned":true,"attachedInfo":null}'
    [group_create]='{"groupName":"checked","status":0}'
    [push_offline]='{"userIDList":["u_bob"],"offlinePushInfo":{"title":"t","iOSBadgeCount":true}}'
    [user_register]='{"users":[{"userID":"u1","nickname":"n","createTime":9007199254740993}]}'
    [group_members_join]='{"memberCallbackList":[{"userID":"u_bob","roleLevel":null}]}'
)

write() { # target case line body-file [modify]
    local out=corpus/$1/$2.txt
    { printf '%s\n' "$3"; cat "$4"; if [[ -n ${5:-} ]]; then printf '\n---\n%s' "$5"; fi; } > "$out"
}

mkdir -p corpus/openim corpus/tencent
for dir in "$fixtures"/openim/*/; do
    case=$(basename "$dir")
    line=$(jq -r '[(.path_command // ""), (if .query then "?" + .query else "" end),
        ((.headers // {}) | to_entries | map(select(.key | ascii_downcase == "operationid"))
            | if length > 0 then " " + .[0].value else "" end)] | join("")' "$dir/request.json")
    write openim "$case" "$line" "$dir/body.json" "${openim_modify[$case]:-}"
done
for dir in "$fixtures"/tencent/*/; do
    case=$(basename "$dir")
    line=$(jq -r '"?" + (.query // "")' "$dir/request.json")
    modify=$(jq -c '.modify // empty' "$dir/request.json")
    write tencent "$case" "$line" "$dir/body.json" "$modify"
done
echo "seeds: $(ls corpus/openim/*.txt | wc -l) openim, $(ls corpus/tencent/*.txt | wc -l) tencent"
