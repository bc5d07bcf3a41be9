// Every subcommand of the `cloudy-agent` executable, in help order.
// To add one: import it and append it to COMMANDS (keep this a plain list).
import type { CliCommand } from '../cli-kit/command.ts';
import { makeAgentCommand } from './commands/agent.ts';
import { realAgent } from '../plugins.ts';
import { membersCommand } from './commands/members.ts';
import { eventCommand } from './commands/event.ts';
import { queryCommand } from './commands/query.ts';
import { tagsCommand } from './commands/tags.ts';
import { joinCommand } from './commands/join.ts';
import { leaveCommand } from './commands/leave.ts';
import { forceLeaveCommand } from './commands/force-leave.ts';
import { keysCommand } from './commands/keys.ts';
import { monitorCommand } from './commands/monitor.ts';
import { infoCommand } from './commands/info.ts';
import { rttCommand } from './commands/rtt.ts';
import { publishCommand, unpublishCommand, searchCommand, servicesCommand, statsCommand } from '../discovery/cli.ts';
import { lxcCommand } from '../containers/cli.ts';
import { seedCommand } from './commands/seed.ts';
import { operatorCommand, remoteCommand, remoteLogCommand } from '../remote/cli.ts';
import { passwdCommand, tokenCommand } from '../api/cli.ts';
import { makeGuifiCommand } from '../guifi/cli.ts';

/** The real agent (assembled in agent/plugins.ts). */
export const agentCommand = makeAgentCommand(realAgent(() => Object.fromEntries(COMMANDS.map((c) => [c.name, c]))));

export const COMMANDS: CliCommand[] = [
  agentCommand,
  membersCommand,
  eventCommand,
  queryCommand,
  tagsCommand,
  joinCommand,
  leaveCommand,
  forceLeaveCommand,
  keysCommand,
  monitorCommand,
  infoCommand,
  rttCommand,
  publishCommand,
  unpublishCommand,
  searchCommand,
  servicesCommand,
  statsCommand,
  lxcCommand,
  seedCommand,
  operatorCommand,
  remoteCommand,
  remoteLogCommand,
  passwdCommand(),
  tokenCommand,
  makeGuifiCommand(),
];

export function findCommand(name: string, commands: readonly CliCommand[] = COMMANDS): CliCommand | undefined {
  return commands.find((c) => c.name === name);
}

export function usage(commands: readonly CliCommand[] = COMMANDS): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: cloudy-agent <command> [options]',
    '',
    'Available commands are:',
    ...commands.map((c) => `    ${c.name.padEnd(w)}    ${c.summary}`),
    '',
  ].join('\n');
}
