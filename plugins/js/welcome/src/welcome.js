// welcome: a hookbox plugin in JavaScript (componentize-js / StarlingMonkey).
//
// OpenIM group callbacks:
//   callbackBeforeCreateGroupCommand       fill in an empty `notification` / `introduction` of
//                                          a new group from config templates (modify)
//   callbackBeforeMembersJoinGroupCommand  optionally mute newcomers for a few minutes (modify)
//   callbackAfterJoinGroupCommand          log a welcome line (after-callbacks only observe)
// Every other command is allowed unchanged.
//
// Config (hookbox.toml `grants.config`):
//   notification           template for a new group's notification; `{groupName}` is replaced.
//                          Default below; "" turns it off.
//   introduction           template for a new group's introduction; default none.
//   newcomer_mute_minutes  mute every joining member for this long (default 0: off).

import { log } from 'wasi:logging/logging@0.1.0-draft';
import { getAll } from 'wasi:config/store@0.2.0-rc.1';

const DEFAULT_NOTIFICATION = 'Welcome to {groupName}! Please be kind and stay on topic.';

// How OpenIM's callbackAfterJoinGroupCommand names the way a user joined (`joinSource`).
const JOIN_SOURCES = { 2: 'an invitation', 3: 'search', 4: 'a QR code' };

// The operator's config, read with one `get-all` on an instance's first call and kept: an
// instance's config never changes (a new config gets new instances), and in reuse mode every
// call into the host it saves is ~70k interpreted instructions (README, "Cost").
let configValues;

/** The operator's value for `key`, or `fallback` when none was granted. */
function config(key, fallback) {
  configValues ??= new Map(getAll()); // throws on a store error (and is read again next call)
  const value = configValues.get(key);
  return value === undefined ? fallback : value;
}

function info(message) {
  log('info', 'welcome', message);
}

function render(template, group) {
  return template.replaceAll('{groupName}', group.groupName || 'this group');
}

function beforeCreateGroup(group) {
  const fields = {};
  const notification = config('notification', DEFAULT_NOTIFICATION);
  if (notification !== '' && !group.notification) {
    fields.notification = render(notification, group);
  }
  const introduction = config('introduction', '');
  if (introduction !== '' && !group.introduction) {
    fields.introduction = render(introduction, group);
  }
  if (Object.keys(fields).length === 0) {
    return { tag: 'allow' };
  }
  info(`new group "${group.groupName ?? ''}" by ${group.ownerUserID ?? '?'}: setting ${Object.keys(fields).join(', ')}`);
  return { tag: 'modify', val: JSON.stringify(fields) };
}

function beforeMembersJoin(request) {
  const text = config('newcomer_mute_minutes', '0');
  const minutes = Number(text);
  if (!Number.isInteger(minutes) || minutes < 0) {
    throw `welcome: newcomer_mute_minutes must be a whole number of minutes, not "${text}"`;
  }
  const members = request.memberList ?? [];
  if (minutes === 0 || members.length === 0) {
    return { tag: 'allow' };
  }
  const muteEndTime = Date.now() + minutes * 60_000; // unix ms, as OpenIM stores it
  info(`muting ${members.length} newcomer(s) of ${request.groupID} for ${minutes} min`);
  return {
    tag: 'modify',
    val: JSON.stringify({
      memberCallbackList: members.map((m) => ({ userID: m.userID, muteEndTime })),
    }),
  };
}

function afterJoin(request) {
  const via = JOIN_SOURCES[request.joinSource] ?? `join source ${request.joinSource}`;
  // OpenIM names the joining user `inviterUserID` in this callback.
  info(`welcome ${request.inviterUserID} to ${request.groupID} (joined via ${via})`);
  return { tag: 'allow' };
}

export const handler = {
  /** handle(event) -> result<verdict, string>: a thrown string is the `err`. */
  handle(event) {
    if (event.dialect !== 'openim') {
      return { tag: 'allow' };
    }
    let request;
    try {
      request = JSON.parse(event.payload);
    } catch (e) {
      throw `welcome: ${event.command} body is not JSON: ${e}`;
    }
    switch (event.command) {
      case 'callbackBeforeCreateGroupCommand':
        return beforeCreateGroup(request);
      case 'callbackBeforeMembersJoinGroupCommand':
        return beforeMembersJoin(request);
      case 'callbackAfterJoinGroupCommand':
        return afterJoin(request);
      default:
        return { tag: 'allow' };
    }
  },
};
