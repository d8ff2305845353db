// Package export_hookbox_plugin_handler implements the `hookbox:plugin/handler` export of
// group-allowlist: only the users in config `allowed` may create groups.
//
// `wit-bindgen go` generates every other package of this module (go.mod, wit_exports.go,
// hookbox_plugin_types, wasi_config_store, wasi_logging_logging) at build time; this
// directory's name is the one its generated code imports.
package export_hookbox_plugin_handler

import (
	"encoding/json"
	"fmt"
	"strings"

	"wit_component/hookbox_plugin_types"
	"wit_component/wasi_config_store"
	"wit_component/wasi_logging_logging"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
)

const (
	openimCreateGroup  = "callbackBeforeCreateGroupCommand"
	tencentCreateGroup = "Group.CallbackBeforeCreateGroup"
	// OpenIM shows errCode/errMsg to the client.
	openimRejectCode = 5003
	// Tencent passes a code through only inside [10100, 10200] for group creation.
	tencentRejectCode = 10100
	// OpenIM's roleLevel of the group owner in initMemberList.
	ownerRoleLevel = 100
)

type openimCreateGroupReq struct {
	OwnerUserID    string `json:"ownerUserID"`
	GroupName      string `json:"groupName"`
	InitMemberList []struct {
		UserID    string `json:"userID"`
		RoleLevel int32  `json:"roleLevel"`
	} `json:"initMemberList"`
}

type tencentCreateGroupReq struct {
	OperatorAccount string `json:"Operator_Account"`
	OwnerAccount    string `json:"Owner_Account"`
	Name            string `json:"Name"`
}

type verdictResult = witTypes.Result[hookbox_plugin_types.Verdict, string]

func allow() verdictResult {
	return witTypes.Ok[hookbox_plugin_types.Verdict, string](hookbox_plugin_types.MakeVerdictAllow())
}

func reject(code int32, message string) verdictResult {
	return witTypes.Ok[hookbox_plugin_types.Verdict, string](hookbox_plugin_types.MakeVerdictReject(
		hookbox_plugin_types.Rejection{Code: code, Message: message, Detail: ""}))
}

func fail(format string, args ...any) verdictResult {
	return witTypes.Err[hookbox_plugin_types.Verdict, string]("group-allowlist: " + fmt.Sprintf(format, args...))
}

func logInfo(message string) {
	wasi_logging_logging.Log(wasi_logging_logging.Level_Info, "group-allowlist", message)
}

// allowedUsers reads config `allowed`: user IDs separated by commas (spaces ignored).
func allowedUsers() (map[string]bool, error) {
	got := wasi_config_store.Get("allowed")
	if got.IsErr() {
		return nil, fmt.Errorf("cannot read config: %v", got.Err())
	}
	value := got.Ok()
	if value.IsNone() {
		return nil, fmt.Errorf("config `allowed` is not set")
	}
	users := map[string]bool{}
	for _, user := range strings.Split(value.Some(), ",") {
		if user = strings.TrimSpace(user); user != "" {
			users[user] = true
		}
	}
	return users, nil
}

// creator is who the check applies to: the group's owner (OpenIM `ownerUserID`, else the
// initMemberList entry with roleLevel 100; Tencent `Owner_Account`, else `Operator_Account`).
func creator(event hookbox_plugin_types.Event) (user, group string, err error) {
	if event.Dialect == hookbox_plugin_types.Dialect_Openim {
		var req openimCreateGroupReq
		if err := json.Unmarshal([]byte(event.Payload), &req); err != nil {
			return "", "", err
		}
		user = req.OwnerUserID
		for _, member := range req.InitMemberList {
			if user == "" && member.RoleLevel == ownerRoleLevel {
				user = member.UserID
			}
		}
		return user, req.GroupName, nil
	}
	var req tencentCreateGroupReq
	if err := json.Unmarshal([]byte(event.Payload), &req); err != nil {
		return "", "", err
	}
	user = req.OwnerAccount
	if user == "" {
		user = req.OperatorAccount
	}
	return user, req.Name, nil
}

// Handle decides on one callback: rejects group creation by anyone not in `allowed`.
func Handle(event hookbox_plugin_types.Event) verdictResult {
	code := int32(openimRejectCode)
	switch {
	case event.Dialect == hookbox_plugin_types.Dialect_Openim && event.Command == openimCreateGroup:
	case event.Dialect == hookbox_plugin_types.Dialect_Tencent && event.Command == tencentCreateGroup:
		code = tencentRejectCode
	default:
		return allow()
	}
	allowed, err := allowedUsers()
	if err != nil {
		return fail("%v", err)
	}
	user, group, err := creator(event)
	if err != nil {
		return fail("%s body is not valid JSON: %v", event.Command, err)
	}
	if user == "" {
		logInfo(fmt.Sprintf("group %q has no owner; refused", group))
		return reject(code, "a new group needs an owner")
	}
	if !allowed[user] {
		logInfo(fmt.Sprintf("%s may not create groups; refused %q", user, group))
		return reject(code, fmt.Sprintf("%s may not create groups", user))
	}
	logInfo(fmt.Sprintf("%s creates group %q", user, group))
	return allow()
}
