#!/usr/bin/env node
import { buildApp } from '../lib/app';

/**
 * The CDK app (`cdk.json` "app"). Stages come from `context.switchback.stages` in cdk.json;
 * `npx cdk synth --no-notices -q` needs no AWS account.
 */
buildApp();
