import { AGENT_V8_FLAGS, missingAgentFlags } from '../../src/cli/v8-flags';

describe('the agent V8 flags `run` needs', () => {
  it('are missing until given, whatever their value or spelling', () => {
    expect(AGENT_V8_FLAGS.length).toBeGreaterThan(0);
    expect(missingAgentFlags([])).toEqual(AGENT_V8_FLAGS);
    expect(missingAgentFlags(['--inspect', '--max-old-space-size=100'])).toEqual(AGENT_V8_FLAGS);
    expect(missingAgentFlags(['--max-semi-space-size=16'])).toEqual([]);
    expect(missingAgentFlags(['--max_semi_space_size=4'])).toEqual([]);
    expect(missingAgentFlags([...AGENT_V8_FLAGS])).toEqual([]);
  });
});
