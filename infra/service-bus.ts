/**
 * Service Bus, generated from the pipeline topology: one topic per event type, one subscription per
 * consuming stage (named after the stage), and the dead-letter topic with its operators'
 * subscription. Entity settings come from layout.ts, the same values the embedded bus uses.
 *
 * Standard tier: Basic has no topics. Local (SAS) authentication is disabled: senders and receivers
 * authenticate with Entra tokens only.
 */
import * as pulumi from '@pulumi/pulumi';
import * as servicebus from '@pulumi/azure-native/servicebus';
import { routes } from '../shared/pipeline/topology';
import {
  DEAD_LETTER_SUBSCRIPTION,
  DEAD_LETTER_TOPIC,
  SERVICE_BUS_SUBSCRIPTION_SETTINGS,
  SERVICE_BUS_TOPIC_SETTINGS,
} from '../shared/adapters/azure/layout';

export interface ServiceBusArgs {
  resourceGroupName: pulumi.Input<string>;
  location: pulumi.Input<string>;
  namespaceName: pulumi.Input<string>;
  tags: Record<string, string>;
}

export interface ServiceBus {
  namespace: servicebus.Namespace;
  /** `<namespace>.servicebus.windows.net` (the trigger's `__fullyQualifiedNamespace`). */
  fullyQualifiedNamespace: pulumi.Output<string>;
  /** By topic name, the dead-letter topic included. */
  topics: Record<string, servicebus.Topic>;
  /** By `<topic>/<subscription>`. */
  subscriptions: Record<string, servicebus.Subscription>;
}

export function serviceBus(args: ServiceBusArgs, opts: pulumi.CustomResourceOptions): ServiceBus {
  const namespace = new servicebus.Namespace(
    'sb',
    {
      resourceGroupName: args.resourceGroupName,
      location: args.location,
      namespaceName: args.namespaceName,
      sku: { name: 'Standard', tier: 'Standard' },
      disableLocalAuth: true,
      minimumTlsVersion: '1.2',
      tags: args.tags,
    },
    opts,
  );
  const topics: Record<string, servicebus.Topic> = {};
  const subscriptions: Record<string, servicebus.Subscription> = {};
  const topic = (name: string) => {
    topics[name] = new servicebus.Topic(
      `sbt-${name}`,
      { resourceGroupName: args.resourceGroupName, namespaceName: namespace.name, topicName: name, ...SERVICE_BUS_TOPIC_SETTINGS },
      opts,
    );
    return topics[name];
  };
  const subscription = (t: servicebus.Topic, topicName: string, name: string) => {
    subscriptions[`${topicName}/${name}`] = new servicebus.Subscription(
      `sbs-${topicName}-${name}`,
      {
        resourceGroupName: args.resourceGroupName,
        namespaceName: namespace.name,
        topicName: t.name,
        subscriptionName: name,
        ...SERVICE_BUS_SUBSCRIPTION_SETTINGS,
      },
      opts,
    );
  };
  for (const route of routes()) {
    const t = topic(route.topic);
    for (const stage of route.subscriptions) subscription(t, route.topic, stage);
  }
  subscription(topic(DEAD_LETTER_TOPIC), DEAD_LETTER_TOPIC, DEAD_LETTER_SUBSCRIPTION);
  return {
    namespace,
    fullyQualifiedNamespace: namespace.serviceBusEndpoint.apply((endpoint) => new URL(endpoint).hostname),
    topics,
    subscriptions,
  };
}
