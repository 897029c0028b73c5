"""infra/ planned and applied against moto's server, then read back with boto3."""

from __future__ import annotations

import json
import re
from typing import Any

REGION = "ap-northeast-1"  # the region in terraform.tfvars.example
Deployment = Any  # conftest.Deployment: outputs, client(), terraform()


def _statements(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, str):
        document = json.loads(document)
    statements = document["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _schedule(d: Deployment) -> dict[str, Any]:
    return d.client("scheduler").get_schedule(
        Name=d.outputs["schedule_name"], GroupName=d.outputs["schedule_group_name"]
    )


def test_schedule_targets_cluster_and_latest_task_revision(deployment: Deployment) -> None:
    """The applied schedule starts the family's latest revision on the cluster, in Tokyo time, at 02:30."""
    schedule = _schedule(deployment)
    target = schedule["Target"]
    assert target["Arn"] == deployment.outputs["cluster_arn"]
    family_arn = deployment.outputs["task_definition_arn"].rsplit(":", 1)[0]
    assert target["EcsParameters"]["TaskDefinitionArn"] == family_arn
    assert not re.search(r":\d+$", target["EcsParameters"]["TaskDefinitionArn"])
    assert target["EcsParameters"]["TaskCount"] == 1
    assert target["EcsParameters"]["LaunchType"] == "FARGATE"
    assert schedule["ScheduleExpression"] == "cron(30 2 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "Asia/Tokyo"
    assert schedule["FlexibleTimeWindow"]["Mode"] == "OFF"
    assert schedule["State"] == "ENABLED"


def test_schedule_network_uses_public_ip_and_the_ingress_free_group(deployment: Deployment) -> None:
    """The task gets a public IP in the default subnets and a security group without ingress."""
    network = _schedule(deployment)["Target"]["EcsParameters"]["NetworkConfiguration"]["awsvpcConfiguration"]
    assert network["AssignPublicIp"] == "ENABLED"
    assert network["SecurityGroups"] == [deployment.outputs["security_group_id"]]
    assert sorted(network["Subnets"]) == sorted(deployment.outputs["subnet_ids"])
    ec2 = deployment.client("ec2")
    group = ec2.describe_security_groups(GroupIds=[deployment.outputs["security_group_id"]])[
        "SecurityGroups"
    ][0]
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    assert group["VpcId"] == default_vpc["VpcId"]
    assert group["IpPermissions"] == []
    assert sorted((p["IpProtocol"], p["FromPort"]) for p in group["IpPermissionsEgress"]) == [
        ("tcp", 443),
        ("tcp", 5432),
    ]


def test_schedule_retries_then_dead_letters_to_the_encrypted_queue(deployment: Deployment) -> None:
    """Failed starts are retried 3 times within an hour, then sent to the SSE-encrypted DLQ, whose depth alarms."""
    target = _schedule(deployment)["Target"]
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 3}
    sqs = deployment.client("sqs")
    attrs = sqs.get_queue_attributes(
        QueueUrl=deployment.outputs["scheduler_dlq_url"], AttributeNames=["All"]
    )["Attributes"]
    assert target["DeadLetterConfig"]["Arn"] == attrs["QueueArn"]
    assert attrs["SqsManagedSseEnabled"] == "true"
    alarm = deployment.client("cloudwatch").describe_alarms(AlarmNames=["dailyfetch-scheduler-failed"])[
        "MetricAlarms"
    ][0]
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": attrs["QueueArn"].rsplit(":", 1)[1]}]
    assert alarm["AlarmActions"] == [deployment.outputs["alerts_topic_arn"]]


def test_task_failure_rule_emails_a_sentence_through_the_topic(deployment: Deployment) -> None:
    """The EventBridge rule matches this family's failed STOPPED tasks and sends a readable sentence to SNS."""
    events = deployment.client("events")
    rule = events.describe_rule(Name="dailyfetch-task-failed")
    pattern = json.loads(rule["EventPattern"])
    assert pattern["source"] == ["aws.ecs"]
    assert pattern["detail-type"] == ["ECS Task State Change"]
    assert pattern["detail"]["clusterArn"] == [deployment.outputs["cluster_arn"]]
    family_arn = deployment.outputs["task_definition_arn"].rsplit(":", 1)[0]
    assert pattern["detail"]["taskDefinitionArn"] == [{"prefix": family_arn + ":"}]
    assert pattern["detail"]["lastStatus"] == ["STOPPED"]
    assert {"containers": {"exitCode": [{"anything-but": 0}]}} in pattern["detail"]["$or"]
    assert {"stopCode": ["TaskFailedToStart"]} in pattern["detail"]["$or"]
    (target,) = events.list_targets_by_rule(Rule="dailyfetch-task-failed")["Targets"]
    assert target["Arn"] == deployment.outputs["alerts_topic_arn"]
    template = target["InputTransformer"]["InputTemplate"]
    assert template.startswith('"dailyfetch job dailyfetch failed at <time>: exit code <exitCode>')
    assert "logsV2:log-groups/log-group/$252Fecs$252Fdailyfetch" in template
    assert target["InputTransformer"]["InputPathsMap"]["exitCode"] == "$.detail.containers[0].exitCode"


def test_topic_policy_lets_only_eventbridge_and_cloudwatch_publish(deployment: Deployment) -> None:
    """Only events.amazonaws.com and cloudwatch.amazonaws.com may publish to the alerts topic, which emails alert_email."""
    sns = deployment.client("sns")
    topic = deployment.outputs["alerts_topic_arn"]
    policy = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    publishers = {
        s["Principal"].get("Service") or s["Principal"].get("AWS")
        for s in _statements(policy)
        if "sns:Publish" in _as_list(s["Action"]) and s["Effect"] == "Allow"
    }
    assert publishers == {"events.amazonaws.com", "cloudwatch.amazonaws.com"}
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("email", "you@example.com")]


def test_missed_run_alarm_breaches_on_missing_success_metric(deployment: Deployment) -> None:
    """The dead man's switch watches RunSucceeded for the job over 26 hourly periods and treats no data as breaching."""
    alarm = deployment.client("cloudwatch").describe_alarms(AlarmNames=["dailyfetch-missed-run"])[
        "MetricAlarms"
    ][0]
    assert alarm["TreatMissingData"] == "breaching"
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "dailyfetch",
        "RunSucceeded",
        "Sum",
    )
    assert alarm["Dimensions"] == [{"Name": "job", "Value": "dailyfetch"}]
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3600, 26, 26)
    assert alarm["ComparisonOperator"] == "LessThanThreshold" and alarm["Threshold"] == 1
    assert alarm["AlarmActions"] == [deployment.outputs["alerts_topic_arn"]]


def test_task_definition_injects_secrets_and_gives_shutdown_time(deployment: Deployment) -> None:
    """The container runs `dailyfetch run` with DATABASE_URL and API_TOKEN from Secrets Manager, stopTimeout 30 and awslogs."""
    ecs = deployment.client("ecs")
    td = ecs.describe_task_definition(taskDefinition=deployment.outputs["task_definition_arn"])[
        "taskDefinition"
    ]
    assert (td["cpu"], td["memory"]) == ("256", "512")
    assert td["requiresCompatibilities"] == ["FARGATE"]
    (container,) = td["containerDefinitions"]
    assert container["command"] == ["run"]
    assert container["stopTimeout"] == 30
    assert container["image"] == deployment.outputs["image_uri"]
    secrets = {s["name"]: s["valueFrom"] for s in container["secrets"]}
    assert secrets == deployment.outputs["secret_arns"]
    assert set(secrets) == {"DATABASE_URL", "API_TOKEN"}
    assert "DATABASE_URL" not in {e["name"] for e in container.get("environment", [])}
    log = container["logConfiguration"]
    assert (
        log["logDriver"] == "awslogs"
        and log["options"]["awslogs-group"] == deployment.outputs["log_group_name"]
    )
    groups = deployment.client("logs").describe_log_groups(
        logGroupNamePrefix=deployment.outputs["log_group_name"]
    )["logGroups"]
    assert groups[0]["retentionInDays"] == 30


def test_secrets_exist_without_any_value_in_aws_or_state(deployment: Deployment) -> None:
    """Terraform creates the secrets but no version: no value is in AWS, the state or the outputs."""
    sm = deployment.client("secretsmanager")
    for name, arn in deployment.outputs["secret_arns"].items():
        described = sm.describe_secret(SecretId=arn)
        assert described["Name"] == f"dailyfetch/{name}"
        assert not described.get("VersionIdsToStages")
    state = json.loads(deployment.terraform("show", "-json").stdout)
    resources = state["values"]["root_module"]["resources"]
    assert not [r for r in resources if r["type"] == "aws_secretsmanager_secret_version"]
    raw_state = (deployment.workdir / "terraform.tfstate").read_text()
    assert "secret_string" not in raw_state and "SecretString" not in raw_state


def test_roles_are_least_privilege_with_no_wildcard_grants(deployment: Deployment) -> None:
    """No inline policy grants on '*'; the task role has no permissions; the execution role reads only the job's secrets."""
    iam = deployment.client("iam")
    roles = {r: f"dailyfetch-{r}" for r in ("scheduler", "ecs-task-execution", "ecs-task")}
    for role in roles.values():
        trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        for statement in _statements(trust):
            assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            for statement in _statements(document):
                assert "*" not in _as_list(statement["Resource"]), (role, statement)
                assert "*" not in _as_list(statement["Action"]), (role, statement)
    assert iam.list_role_policies(RoleName=roles["ecs-task"])["PolicyNames"] == []
    assert iam.list_attached_role_policies(RoleName=roles["ecs-task"])["AttachedPolicies"] == []
    attached = iam.list_attached_role_policies(RoleName=roles["ecs-task-execution"])["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AmazonECSTaskExecutionRolePolicy"]
    (name,) = iam.list_role_policies(RoleName=roles["ecs-task-execution"])["PolicyNames"]
    (read,) = _statements(
        iam.get_role_policy(RoleName=roles["ecs-task-execution"], PolicyName=name)["PolicyDocument"]
    )
    assert read["Action"] == "secretsmanager:GetSecretValue"
    assert sorted(_as_list(read["Resource"])) == sorted(deployment.outputs["secret_arns"].values())


def test_ecr_repository_is_immutable_scanned_and_pruned(deployment: Deployment) -> None:
    """The ECR repository has immutable tags, scan on push, and keeps the newest 10 images."""
    ecr = deployment.client("ecr")
    repo = ecr.describe_repositories(repositoryNames=[deployment.outputs["ecr_repository_name"]])[
        "repositories"
    ][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    assert repo["repositoryUri"] == deployment.outputs["ecr_repository_url"]
    policy = json.loads(
        ecr.get_lifecycle_policy(repositoryName=repo["repositoryName"])["lifecyclePolicyText"]
    )
    assert policy["rules"][0]["selection"]["countNumber"] == 10


def test_run_task_command_output_starts_the_task_by_hand(deployment: Deployment) -> None:
    """The run_task_command output's cluster, family and network settings are accepted by ecs.run_task."""
    command = deployment.outputs["run_task_command"]
    subnets = re.search(r"subnets=\[([^\]]*)\]", command).group(1).split(",")  # type: ignore[union-attr]
    group = re.search(r"securityGroups=\[([^\]]*)\]", command).group(1)  # type: ignore[union-attr]
    assert f"--region {REGION}" in command and "assignPublicIp=ENABLED" in command
    ecs = deployment.client("ecs")
    ec2 = deployment.client("ec2")
    vpc_id = ec2.describe_subnets(SubnetIds=subnets)["Subnets"][0]["VpcId"]
    # moto's Fargate emulation needs DNS hostnames on the VPC (AWS's default VPC has them).
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    response = ecs.run_task(
        cluster=deployment.outputs["cluster_name"],
        taskDefinition=deployment.outputs["task_definition_family"],
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": subnets,
                "securityGroups": [group],
                "assignPublicIp": "ENABLED",
            }
        },
    )
    assert not response.get("failures")
    (task,) = response["tasks"]
    assert task["taskDefinitionArn"] == deployment.outputs["task_definition_arn"]


def test_second_plan_after_apply_has_no_changes(deployment: Deployment) -> None:
    """Re-planning the applied configuration proposes no changes (the configuration converges)."""
    proc = deployment.terraform("plan", "-input=false", "-detailed-exitcode", check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_destroy_removes_everything(deployment: Deployment) -> None:
    """`terraform destroy` tears the whole stack down (docs/deploy.md's last step)."""
    deployment.terraform("destroy", "-input=false", "-auto-approve")
    state = json.loads(deployment.terraform("show", "-json").stdout)
    assert not state.get("values", {}).get("root_module", {}).get("resources")
    assert deployment.client("scheduler").list_schedules()["Schedules"] == []
