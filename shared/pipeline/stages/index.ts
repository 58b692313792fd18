/** The handler of each stage, by name (the topology says when each runs). */
import type { StageHandler } from '../stage';
import type { StageName } from '../topology';
import { analyze } from './analyze';
import { discover } from './discover';
import { gate } from './gate';
import { ingest } from './ingest';
import { notify } from './notify';
import { rotate } from './rotate';

export const STAGE_HANDLERS: Readonly<Record<StageName, StageHandler>> = { ingest, discover, analyze, gate, rotate, notify };
