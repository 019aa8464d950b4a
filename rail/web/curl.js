// "Copy as curl": the command that repeats what the page shows, against this rail, with a placeholder where the
// token goes. The page never puts a token in a command: the reader sets TOKEN in their own shell.

function quote(text) {
  return `'${String(text).replaceAll("'", "'\\''")}'`;
}

function tokenLine(whose) {
  return `# export TOKEN=...   (${whose}; never paste it into a shared command)`;
}

/** Resend a message the rail received (a resend gets the original answer: the rail's duplicate check). */
export function resendCommand(origin, message, body) {
  const type = message.rendering === 'json' ? 'application/json' : 'application/xml';
  let end = 'ISO20022_MESSAGE';
  while (body.split('\n').includes(end)) end += '_';
  return [
    tokenLine(`the token of ${message.sender}`),
    `curl -sS -X POST ${quote(`${origin}/v1/messages`)} \\`,
    '  -H "Authorization: Bearer $TOKEN" \\',
    `  -H ${quote(`Content-Type: ${type}`)} \\`,
    `  --data-binary @- <<'${end}'`,
    body.replace(/\n$/, ''),
    end,
  ].join('\n');
}

/** Read a payment's status, or its message trace, as the API serves them. */
export function readCommand(origin, path, whose) {
  return [tokenLine(whose), `curl -sS ${quote(`${origin}${path}`)} -H "Authorization: Bearer $TOKEN"`].join('\n');
}
