// Every subcommand of the `cloudy-agent` executable, in help order.
// To add one: import it and append it to COMMANDS (keep this a plain list).
import { lazyCommand, type CliCommand } from '../cli-kit/command.ts';
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

// The plug-ins' verbs load their modules when they run (lazyCommand): the agent's
// start evaluates only what gossip and RPC need (issue 17). Their summaries are
// repeated here for `help`; test/cli/lazy-commands.test.ts holds them equal.
const discoveryCli = () => import('../discovery/cli.ts');
const remoteCli = () => import('../remote/cli.ts');
const apiCli = () => import('../api/cli.ts');

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
  lazyCommand('publish', 'Announces a Cloudy service in the services tag (avahi-ps publish)', async () => (await discoveryCli()).publishCommand),
  lazyCommand('unpublish', 'Withdraws a Cloudy service from the services tag (avahi-ps unpublish)', async () => (await discoveryCli()).unpublishCommand),
  lazyCommand('search', 'Lists the Cloudy services of every alive node (avahi-ps search)', async () => (await discoveryCli()).searchCommand),
  lazyCommand('services', "Lists this node's published Cloudy services and their checks", async () => (await discoveryCli()).servicesCommand),
  lazyCommand('stats', 'Cloudy federation statistics: alive instances, services per type, history', async () => (await discoveryCli()).statsCommand),
  lazyCommand('lxc', 'Manages LXC containers and the services they provide', async () => (await import('../containers/cli.ts')).lxcCommand),
  lazyCommand('seed', 'Checks, reads or writes the first-boot seed (cloudy.conf) of an image or device', async () => (await import('./commands/seed.ts')).seedCommand),
  lazyCommand('operator', 'Operator keys for remote control: keygen, show, trust, untrust, list', async () => (await remoteCli()).operatorCommand),
  lazyCommand('remote', 'Run a command on another node (signed, over serf queries)', async () => (await remoteCli()).remoteCommand),
  lazyCommand('remote-log', 'Remote commands this node received and sent (audit log)', async () => (await remoteCli()).remoteLogCommand),
  lazyCommand('passwd', 'Sets the admin password of the web GUI and API', async () => (await apiCli()).passwdCommand()),
  lazyCommand('token', 'Creates, lists and revokes API tokens', async () => (await apiCli()).tokenCommand),
  lazyCommand('guifi', "Registers this box in guifi.net's database (login, register, service-add, unregister, status)", async () => (await import('../guifi/cli.ts')).makeGuifiCommand()),
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
