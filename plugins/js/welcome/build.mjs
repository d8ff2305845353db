// Builds the component: `node build.mjs OUT.wasm` (`npm run build`).
//
// The same as `componentize-js --wit ../../../wit --world-name plugin -d http fetch-event
// -o OUT.wasm src/welcome.js`, plus one fix to the JavaScript glue componentize-js generates
// for the WIT world (its "bindings"), which the CLI cannot do:
//
// componentize-js 0.23.0 hands every string to the host (a `modify` JSON, a log line, a config
// key) through `_utf8AllocateAndEncode`, which first measures the string's UTF-8 length with
// a JavaScript loop over its characters. Without AOT compilation that loop runs in
// SpiderMonkey's interpreter at ~2,500 wasm instructions per character: a 76-character
// `modify` costs ~190k instructions, more than the whole empty call (~180k). The fix gets the
// same bytes from the engine's native `TextEncoder.encode` and copies them: the same pointer,
// length and bytes (lone surrogates become U+FFFD either way), without the per-character
// loop. It also drops the `_debugLog(...)` calls, which only print when
// `globalThis.process.env.JCO_DEBUG` is set; StarlingMonkey has no `process`.
//
// The fix matches the generated text exactly. If a new componentize-js generates something
// else, the build fails here instead of silently building the slow glue: check the new
// glue (`debug: { bindings: true }`) and update or drop the fix.

import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Both from this package's own copy, so the splicer patched here is the one componentize uses.
const pkg = new URL('./node_modules/@bytecodealliance/componentize-js/', import.meta.url);
const { splicer } = await import(new URL('lib/spidermonkey-embedding-splicer.js', pkg));
const { componentize, version } = await import(new URL('src/componentize.js', pkg));

const MEASURE_THEN_ENCODE = `  let len = 0;
  let codepoints = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    codepoints++;
    if (ch < 0x80) { len += 1; }
    else if (ch < 0x800) { len += 2; }
    else if (ch >= 0xd800 && ch <= 0xdbff &&
    i + 1 < s.length &&
    (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      len += 4;
      i++;
    } else { len += 3; }
  }
  const ptr = realloc(0, 0, 1, len);
  const { read, written } = TEXT_ENCODER_UTF8.encodeInto(
  s,
  new Uint8Array(memory.buffer, ptr, len),
  );
  if (read !== s.length || written !== len) {
    throw new Error('failed to encode whole string');
  }
  const res = { ptr, len, codepoints };
  return res;
`;
const ENCODE_THEN_COPY = `  const bytes = TEXT_ENCODER_UTF8.encode(s);
  const len = bytes.length;
  const ptr = realloc(0, 0, 1, len);
  new Uint8Array(memory.buffer, ptr, len).set(bytes);
  return { ptr, len };
`;
// One `_debugLog('...');` or `_debugLog('...', { flat object });` statement.
const DEBUG_LOG_CALL = /\n *_debugLog\((?:'[^'\n]*'|"[^"\n]*")(?:, \{[^{}]*\})?\);/g;

function fixBindings(js) {
  const found = js.split(MEASURE_THEN_ENCODE).length - 1;
  if (found !== 1) {
    throw new Error(
      `build.mjs: componentize-js ${version} generated a string encoder this script does not ` +
        `know (${found} matches, expected 1); see the comment at the top of build.mjs`,
    );
  }
  js = js.replace(MEASURE_THEN_ENCODE, ENCODE_THEN_COPY);
  // Nothing else may read the `codepoints` that the fixed encoder no longer returns.
  if (js.includes('codepoints')) {
    throw new Error('build.mjs: the generated bindings use `codepoints`; the encoder fix would break them');
  }
  return js.replace(DEBUG_LOG_CALL, '');
}

const spliceBindings = splicer.spliceBindings;
splicer.spliceBindings = (...args) => {
  const spliced = spliceBindings(...args);
  spliced.jsBindings = fixBindings(spliced.jsBindings);
  return spliced;
};

if (!process.argv[2]) {
  throw new Error('usage: node build.mjs OUT.wasm');
}
const out = resolve(process.argv[2]);
// Paths below, and the source paths componentize-js records, are relative to this directory.
process.chdir(fileURLToPath(new URL('.', import.meta.url)));
const { component } = await componentize({
  sourcePath: 'src/welcome.js',
  witPath: resolve('../../../wit'),
  worldName: 'plugin',
  // Without these the component imports wasi:http, which hookbox does not provide.
  disableFeatures: ['http', 'fetch-event'],
});
await writeFile(out, component);
