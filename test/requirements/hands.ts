/** Hands requirements (issue: hands; spec hands-and-credentials.md §7). Tests cite the id in their name: `[HANDS-1] …`. */
export const handsRequirements: Record<string, string> = {
  'HANDS-1': 'a session driven by the official SDK runs real bash in a bubblewrap sandbox provisioned on its first tool call; a turn without tools provisions none',
  'HANDS-2': 'killing the sandbox mid-call gives the model a tool error, and the next call works in a fresh sandbox with the same workspace files',
  'HANDS-3': 'the shell persists between turns of a session (cwd, variables), and an idle sandbox is reaped while its workspace survives',
  'HANDS-4': 'file resources are placed at provision: at their absolute mount_path read-only (default /mnt/session/uploads/<file_id>), those under /workspace as writable copies in the workspace',
  'HANDS-5': 'each tool result keeps, privately in the log, the sandbox that ran it and the provision and execute durations',
  'HANDS-6': '`oma demo` (the README run command): oma on PGlite with bubblewrap, a scripted model clearly labelled, and a turn where the agent writes and runs a program in its sandbox, streamed to the terminal',
  'HANDS-7': 'web_fetch runs on the host under an egress policy: allowed/blocked domains, redirects re-checked, private and loopback addresses only for hosts listed in allowed_domains, text-like content only',
  'HANDS-8': 'web_search with no search provider configured answers with a clear tool error',
  'HANDS-9': 'sandbox limits beyond cgroups: a hard per-file size limit and a size-limited private /tmp',
  'HANDS-10': 'a workspace has a size (an ext4 image mounted only in the sandbox\'s namespace): writing past it is "No space left on device", the files survive the sandbox, and nothing stays mounted or attached on the host',
  'HANDS-11': 'the environment\'s packages are installed once per package set, host-side in an installer sandbox whose only network is the egress proxy, cached across sessions, and on PATH in every sandbox of the environment; a failed install is a clear tool error',
  'HANDS-12': 'sandbox egress goes only through the host-side proxy and only to allowed hosts; loopback and private addresses only when named literally',
  'HANDS-13': 'a sandbox\'s dispose (reaped idle, replaced after it died, shut down) is recorded in the session\'s log with its reason and duration, privately',
  'HANDS-14': 'the process provider is for development only: a loud warning at start, and refused when a credential feature is configured',
};
