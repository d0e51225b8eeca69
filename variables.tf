# Inputs of the Smart Vault deployment. Only the two regions are required; everything else has a default
# that matches the defaults of the code (docs/deploy.md lists them).

variable "primary_region" {
  type        = string
  description = "Region of the protected EC2 instances, where backups run and the main restore API lives (e.g. eu-west-1)."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$", var.primary_region))
    error_message = "primary_region must be an AWS region name such as eu-west-1."
  }
}

variable "dr_region" {
  type        = string
  description = "Disaster-recovery region that receives the KMS-encrypted snapshot copies (e.g. eu-central-1). Must differ from primary_region."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$", var.dr_region))
    error_message = "dr_region must be an AWS region name such as eu-central-1."
  }

  validation {
    condition     = var.dr_region != var.primary_region
    error_message = "dr_region must differ from primary_region: a copy in the same region is no disaster recovery."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name (functions, roles, tables, topics, keys' aliases)."
  default     = "smart-vault"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,23}$", var.name_prefix))
    error_message = "name_prefix must be 3 to 24 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource (merged with ManagedBy=smart-vault, which cannot be overridden)."
  default     = {}
}

variable "backup_schedule" {
  type        = string
  description = "EventBridge cron expression (always UTC) of the daily full backup run, e.g. cron(0 2 * * ? *)."
  default     = "cron(0 2 * * ? *)"

  validation {
    condition     = can(regex("^cron\\(\\S+ \\S+ \\S+ \\S+ \\S+ \\S+\\)$", var.backup_schedule))
    error_message = "backup_schedule must be an EventBridge cron expression with six fields, e.g. cron(0 2 * * ? *)."
  }
}

variable "backup_tag_key" {
  type        = string
  description = "Instance tag key that selects the instances to back up (BACKUP_TAG_KEY)."
  default     = "Backup-Tier"

  validation {
    condition     = length(var.backup_tag_key) >= 1 && length(var.backup_tag_key) <= 128
    error_message = "backup_tag_key must be 1 to 128 characters."
  }
}

variable "backup_tag_values" {
  type        = list(string)
  description = "Accepted values of backup_tag_key; an instance with any of them is backed up (BACKUP_TAG_VALUE)."
  default     = ["Gold"]

  validation {
    condition     = length(var.backup_tag_values) > 0 && alltrue([for v in var.backup_tag_values : length(trimspace(v)) > 0 && !strcontains(v, ",")])
    error_message = "backup_tag_values must name at least one non-empty value without commas."
  }
}

variable "retention_days" {
  type        = number
  description = "Age in days after which primary snapshots may be pruned (RETENTION_DAYS)."
  default     = 7

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 3650 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number from 1 to 3650."
  }
}

variable "dr_retention_days" {
  type        = number
  description = "Age in days after which DR copies may be pruned (DR_RETENTION_DAYS); null means the same as retention_days."
  default     = null

  validation {
    condition     = var.dr_retention_days == null || try(var.dr_retention_days >= 1 && var.dr_retention_days <= 3650 && floor(var.dr_retention_days) == var.dr_retention_days, false)
    error_message = "dr_retention_days must be null or a whole number from 1 to 3650."
  }
}

variable "min_snapshots_kept" {
  type        = number
  description = "Newest completed snapshots per source volume and region that are never pruned (MIN_SNAPSHOTS_KEPT)."
  default     = 1

  validation {
    condition     = var.min_snapshots_kept >= 1 && var.min_snapshots_kept <= 1000 && floor(var.min_snapshots_kept) == var.min_snapshots_kept
    error_message = "min_snapshots_kept must be a whole number from 1 to 1000."
  }
}

variable "max_concurrent_copies" {
  type        = number
  description = "Most snapshot copies pending into the DR region at once (MAX_CONCURRENT_COPIES; AWS allows 20)."
  default     = 20

  validation {
    condition     = var.max_concurrent_copies >= 1 && var.max_concurrent_copies <= 20 && floor(var.max_concurrent_copies) == var.max_concurrent_copies
    error_message = "max_concurrent_copies must be a whole number from 1 to 20."
  }
}

variable "app_consistent_timeout_seconds" {
  type        = number
  description = "How long the pre-script (and the post-script) of an instance tagged Backup-Scripts may run (APP_CONSISTENT_TIMEOUT_SECONDS)."
  default     = 60

  validation {
    condition     = var.app_consistent_timeout_seconds >= 10 && var.app_consistent_timeout_seconds <= 300 && floor(var.app_consistent_timeout_seconds) == var.app_consistent_timeout_seconds
    error_message = "app_consistent_timeout_seconds must be a whole number from 10 to 300."
  }
}

variable "app_consistent_on_failure" {
  type        = string
  description = "What a failed pre-script means: crash-consistent (take the set anyway, tagged smart-vault:app-consistent=false) or skip (fail the instance) (APP_CONSISTENT_ON_FAILURE)."
  default     = "crash-consistent"

  validation {
    condition     = contains(["crash-consistent", "skip"], var.app_consistent_on_failure)
    error_message = "app_consistent_on_failure must be crash-consistent or skip."
  }
}

variable "dry_run" {
  type        = bool
  description = "When true, scheduled runs only plan and report: nothing is created, copied or deleted (DRY_RUN)."
  default     = false
}

variable "source_volume_kms_key_arns" {
  type        = list(string)
  description = "Customer-managed KMS keys (in the primary region) that encrypt protected volumes; the backup needs them to copy the snapshots and the restore to create volumes. Volumes under the AWS-managed aws/ebs key need nothing here."
  default     = []

  validation {
    condition     = alltrue([for arn in var.source_volume_kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", arn))])
    error_message = "source_volume_kms_key_arns must be KMS key ARNs (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "backup_timeout_seconds" {
  type        = number
  description = "Timeout of the backup function; large runs continue in a new invocation before it runs out."
  default     = 900

  validation {
    condition     = var.backup_timeout_seconds >= 60 && var.backup_timeout_seconds <= 900
    error_message = "backup_timeout_seconds must be from 60 to 900."
  }
}

variable "backup_reserved_concurrency" {
  type        = number
  description = "Reserved concurrency of the backup function; null (the default) reserves none. Lambda keeps 100 executions of the region unreserved: all reservations together may take at most the account quota minus 100, so on a new account (often a quota of 10) any reservation fails. Set this only once the quota leaves room for every reservation (this one, two restore functions per region, your own). The copy ledger keeps overlapping invocations safe without it."
  default     = null

  validation {
    condition     = var.backup_reserved_concurrency == null || (try(var.backup_reserved_concurrency >= 2 && var.backup_reserved_concurrency <= 100, false))
    error_message = "backup_reserved_concurrency must be null or from 2 to 100 (a run may continue itself in a second invocation)."
  }
}

variable "restore_reserved_concurrency" {
  type        = number
  description = "Reserved concurrency of each restore function (API and worker, per region); null (the default) reserves none. Lambda keeps 100 executions of the region unreserved (all reservations together: at most the quota minus 100), which a new account's quota of 10 cannot: set this only once the quota is raised."
  default     = null

  validation {
    condition     = var.restore_reserved_concurrency == null || try(var.restore_reserved_concurrency >= 1 && var.restore_reserved_concurrency <= 100 && floor(var.restore_reserved_concurrency) == var.restore_reserved_concurrency, false)
    error_message = "restore_reserved_concurrency must be null or a whole number from 1 to 100."
  }
}

variable "restore_in_dr_region" {
  type        = bool
  description = "Deploy a second restore stack (API, functions, tables) in the DR region, so restores work while the primary region is down."
  default     = true
}

variable "allowed_instance_types" {
  type        = list(string)
  description = "Instance types a restore may launch (ALLOWED_INSTANCE_TYPES)."
  default     = ["t3.micro", "t3.small", "t3.medium", "t3.large"]

  validation {
    condition     = length(var.allowed_instance_types) > 0 && alltrue([for t in var.allowed_instance_types : can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", t))])
    error_message = "allowed_instance_types must list at least one instance type such as t3.micro."
  }
}

variable "allowed_subnet_ids" {
  type        = list(string)
  description = "Subnets (in either region) a restore may use (ALLOWED_SUBNET_IDS); empty allows any subnet."
  default     = []

  validation {
    condition     = alltrue([for s in var.allowed_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "allowed_subnet_ids must be subnet ids such as subnet-0123456789abcdef0."
  }
}

variable "api_throttle_rate_limit" {
  type        = number
  description = "Steady-state requests per second the restore API accepts per API key."
  default     = 5

  validation {
    condition     = var.api_throttle_rate_limit > 0 && var.api_throttle_rate_limit <= 1000
    error_message = "api_throttle_rate_limit must be greater than 0 and at most 1000."
  }
}

variable "api_throttle_burst_limit" {
  type        = number
  description = "Burst of requests the restore API accepts per API key."
  default     = 10

  validation {
    condition     = var.api_throttle_burst_limit >= 1 && var.api_throttle_burst_limit <= 5000
    error_message = "api_throttle_burst_limit must be from 1 to 5000."
  }
}

variable "api_quota_per_day" {
  type        = number
  description = "Requests per day the restore API accepts per API key."
  default     = 1000

  validation {
    condition     = var.api_quota_per_day >= 1 && floor(var.api_quota_per_day) == var.api_quota_per_day
    error_message = "api_quota_per_day must be a whole number of at least 1."
  }
}

variable "notification_email" {
  type        = string
  description = "E-mail address subscribed to the notification topics (backup reports, restores, alarms); null for none. AWS sends a confirmation mail first."
  default     = null

  validation {
    condition     = var.notification_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.notification_email))
    error_message = "notification_email must be an e-mail address or null."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the functions' and the API's log groups, in days (a value CloudWatch Logs accepts)."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "rpo_threshold_hours" {
  type        = number
  description = "Recovery point objective: alarm when the newest completed snapshot of a protected instance is older than this, or when no backup run reported for this long."
  default     = 26

  validation {
    condition     = var.rpo_threshold_hours >= 1 && var.rpo_threshold_hours <= 168 && floor(var.rpo_threshold_hours) == var.rpo_threshold_hours
    error_message = "rpo_threshold_hours must be a whole number from 1 to 168 (CloudWatch evaluates at most 7 days)."
  }
}

variable "enable_billing_alarm" {
  type        = bool
  description = "Create the estimated-charges alarm in us-east-1 (needs 'Receive Billing Alerts' enabled in the account's billing preferences)."
  default     = true
}

variable "billing_alarm_threshold_usd" {
  type        = number
  description = "Alarm when the account's estimated charges for the month exceed this many US dollars."
  default     = 100

  validation {
    condition     = var.billing_alarm_threshold_usd > 0
    error_message = "billing_alarm_threshold_usd must be greater than 0."
  }
}

variable "powertools_layer_arn" {
  type        = string
  description = "ARN of the public Powertools for AWS Lambda (Python) v3 layer for python3.12 x86_64; '{region}' is replaced by each function's region. The layer carries Powertools with its extras (aws-xray-sdk among them); boto3 comes with the runtime."
  default     = "arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:27"

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:lambda:(\\{region\\}|[a-z0-9-]+):[0-9]{12}:layer:[A-Za-z0-9_-]+:[0-9]+$", var.powertools_layer_arn))
    error_message = "powertools_layer_arn must be a Lambda layer version ARN; use {region} for the region."
  }
}

variable "kms_deletion_window_days" {
  type        = number
  description = "Waiting period before a destroyed KMS key is deleted (the DR copies cannot be read without their key)."
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be from 7 to 30."
  }
}

variable "manage_api_gateway_account" {
  type        = bool
  description = "Set the regional API Gateway account's CloudWatch Logs role (needed for the API's execution logs). Turn off if the account already manages it elsewhere: the setting is per account and region."
  default     = true
}

variable "copy_reconcile_minutes" {
  type        = number
  description = "(v2) Minutes between copy reconciliations ({\"reconcile_copies\": true}): owed DR copies start into free slots."
  default     = 30

  validation {
    condition     = var.copy_reconcile_minutes >= 2 && var.copy_reconcile_minutes <= 1440 && floor(var.copy_reconcile_minutes) == var.copy_reconcile_minutes
    error_message = "copy_reconcile_minutes must be a whole number from 2 to 1440."
  }
}

variable "dr_rpo_threshold_hours" {
  type        = number
  description = "(v2) Alarm when the newest DR copy of a protected instance is older than this (RecoveryPointAgeSeconds, Region = DR region)."
  default     = 36

  validation {
    condition     = var.dr_rpo_threshold_hours >= 1 && var.dr_rpo_threshold_hours <= 168 && floor(var.dr_rpo_threshold_hours) == var.dr_rpo_threshold_hours
    error_message = "dr_rpo_threshold_hours must be a whole number from 1 to 168."
  }
}

variable "owed_copy_threshold_hours" {
  type        = number
  description = "(v2) Alarm when a DR copy has been owed (waiting for a slot) longer than this (OldestOwedCopySeconds)."
  default     = 24

  validation {
    condition     = var.owed_copy_threshold_hours >= 1 && var.owed_copy_threshold_hours <= 168
    error_message = "owed_copy_threshold_hours must be from 1 to 168."
  }
}

variable "dr_subnet_id" {
  type        = string
  description = "Subnet in the DR region where full-instance restores of primary sets land by default (RESTORE_NETWORKS); null: each such restore must name one."
  default     = null

  validation {
    condition     = var.dr_subnet_id == null || can(regex("^subnet-[0-9a-f]{8,17}$", var.dr_subnet_id))
    error_message = "dr_subnet_id must be a subnet id such as subnet-0123456789abcdef0."
  }
}

variable "dr_security_group_ids" {
  type        = list(string)
  description = "Security groups (in dr_subnet_id's VPC) of full-instance restores in the DR region by default (RESTORE_NETWORKS)."
  default     = []

  validation {
    condition     = length(var.dr_security_group_ids) <= 5 && alltrue([for g in var.dr_security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", g))])
    error_message = "dr_security_group_ids must be at most 5 security group ids such as sg-0123456789abcdef0."
  }
}

variable "allowed_instance_profile_arns" {
  type        = list(string)
  description = "Instance profiles a restored instance may get (ALLOWED_INSTANCE_PROFILE_ARNS); the recorded one is attached only when listed."
  default     = []

  validation {
    condition     = alltrue([for a in var.allowed_instance_profile_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:instance-profile/", a))])
    error_message = "allowed_instance_profile_arns must be instance profile ARNs."
  }
}

# ---------------------------------------------------------------- (v2) restore drills

variable "drill_regions" {
  type        = list(string)
  description = "Regions whose recovery points are drilled, each by a drill function of its own; null drills the DR region only, [var.dr_region, var.primary_region] adds the primary, [] turns drills off."
  default     = null

  validation {
    condition     = var.drill_regions == null || alltrue([for r in coalesce(var.drill_regions, []) : contains([var.primary_region, var.dr_region], r)])
    error_message = "drill_regions may name only primary_region and dr_region."
  }
}

variable "drill_schedule" {
  type        = string
  description = "EventBridge schedule of the drill runs in every drill region (UTC); weekly by default."
  default     = "cron(0 3 ? * SUN *)"

  validation {
    condition     = can(regex("^(cron|rate)\\(.+\\)$", var.drill_schedule))
    error_message = "drill_schedule must be an EventBridge cron(...) or rate(...) expression."
  }
}

variable "drill_max_instances" {
  type        = number
  description = "DRILL_MAX_INSTANCES: instances drilled per run and region, in parallel (the oldest drilled first)."
  default     = 5

  validation {
    condition     = var.drill_max_instances >= 1 && var.drill_max_instances <= 50 && floor(var.drill_max_instances) == var.drill_max_instances
    error_message = "drill_max_instances must be a whole number from 1 to 50."
  }
}

variable "drill_rotation_days" {
  type        = number
  description = "DRILL_ROTATION_DAYS: an instance not drilled for this long counts as overdue (DrillOverdue alarm)."
  default     = 7

  validation {
    condition     = var.drill_rotation_days >= 1 && var.drill_rotation_days <= 365 && floor(var.drill_rotation_days) == var.drill_rotation_days
    error_message = "drill_rotation_days must be a whole number from 1 to 365."
  }
}

variable "drill_instance_type" {
  type        = string
  description = "DRILL_INSTANCE_TYPE: instance type of drill instances; null launches each instance's recorded type."
  default     = null

  validation {
    condition     = var.drill_instance_type == null || can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.drill_instance_type))
    error_message = "drill_instance_type must be an instance type such as t3.small."
  }
}

variable "drill_timeout_seconds" {
  type        = number
  description = "DRILL_TIMEOUT_SECONDS: a drill not passed by then fails; teardown always follows."
  default     = 600

  validation {
    condition     = var.drill_timeout_seconds >= 60 && var.drill_timeout_seconds <= 840
    error_message = "drill_timeout_seconds must be from 60 to 840."
  }
}

variable "drill_rto_threshold_seconds" {
  type        = number
  description = "Alarm when a passed drill's recovery time (DrillRtoSeconds) is above this many seconds."
  default     = 480

  validation {
    condition     = var.drill_rto_threshold_seconds > 0
    error_message = "drill_rto_threshold_seconds must be positive."
  }
}

variable "drill_validation_function_arns" {
  type        = map(string)
  description = "DRILL_VALIDATION_FUNCTION per drill region: region -> ARN of a Lambda there that checks each drill instance (docs/drills.md)."
  default     = {}

  validation {
    condition     = alltrue([for arn in values(var.drill_validation_function_arns) : can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+$", arn))])
    error_message = "drill_validation_function_arns values must be unqualified Lambda function ARNs."
  }
}

variable "drill_subnet_ids" {
  type        = map(string)
  description = "Existing isolated subnet per drill region (region -> subnet id) instead of the drill VPC the module creates."
  default     = {}

  validation {
    condition     = alltrue([for s in values(var.drill_subnet_ids) : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "drill_subnet_ids values must be subnet ids."
  }
}

variable "drill_security_group_ids" {
  type        = map(list(string))
  description = "Existing security groups per drill region (region -> ids, in that region's drill subnet's VPC) instead of the rule-less group the module creates."
  default     = {}

  validation {
    condition     = alltrue([for groups in values(var.drill_security_group_ids) : length(groups) >= 1 && length(groups) <= 5 && alltrue([for g in groups : can(regex("^sg-[0-9a-f]{8,17}$", g))])])
    error_message = "drill_security_group_ids values must be lists of 1 to 5 security group ids."
  }
}

variable "drill_vpc_cidr" {
  type        = string
  description = "CIDR block of the drill VPC the module creates in each drill region without drill_subnet_ids; its one subnet takes the first /24."
  default     = "10.250.0.0/16"

  validation {
    condition     = can(cidrsubnet(var.drill_vpc_cidr, 8, 0))
    error_message = "drill_vpc_cidr must be an IPv4 CIDR block of /16 to /20."
  }
}

variable "change_anomaly_factor" {
  type        = number
  description = "A volume's change is anomalous at this many times the median of its last measurements (at least 3, at most 14); 0 turns detection off (docs/anomalies.md)."
  default     = 5

  validation {
    condition     = var.change_anomaly_factor == 0 || (var.change_anomaly_factor >= 1 && var.change_anomaly_factor <= 1000)
    error_message = "change_anomaly_factor must be 0 (off) or between 1 and 1000."
  }
}

variable "change_anomaly_min_gib" {
  type        = number
  description = "Changes below this many GiB are never anomalous."
  default     = 1

  validation {
    condition     = var.change_anomaly_min_gib >= 0 && var.change_anomaly_min_gib <= 65536
    error_message = "change_anomaly_min_gib must be between 0 and 65536."
  }
}

variable "snapshot_price_per_gb_month" {
  type        = number
  description = "USD per GB-month of standard snapshot storage in the primary region, for the cost estimates of recovery points."
  default     = 0.05

  validation {
    condition     = var.snapshot_price_per_gb_month >= 0 && var.snapshot_price_per_gb_month <= 100
    error_message = "snapshot_price_per_gb_month must be between 0 and 100."
  }
}

# ------------------------------------------------------------------ (v3) Snapshot Lock and the vault account

variable "lock_mode" {
  type        = string
  description = "EBS Snapshot Lock mode of every DR copy (LOCK_MODE): none, governance or compliance."
  default     = "governance"

  validation {
    condition     = contains(["none", "governance", "compliance"], var.lock_mode)
    error_message = "lock_mode must be none, governance or compliance."
  }
}

variable "lock_cool_off_hours" {
  type        = number
  description = "Cooling-off period of compliance locks in hours (LOCK_COOL_OFF_HOURS), 0 to 72; 0 with other modes."
  default     = 0

  validation {
    condition     = var.lock_cool_off_hours >= 0 && var.lock_cool_off_hours <= 72 && floor(var.lock_cool_off_hours) == var.lock_cool_off_hours
    error_message = "lock_cool_off_hours must be a whole number from 0 to 72."
  }
}

variable "lock_primary" {
  type        = bool
  description = "Lock primary snapshots too, in the same mode (LOCK_PRIMARY)."
  default     = false
}

variable "vault_account_id" {
  type        = string
  description = "The 12-digit vault account that receives a copy of every DR recovery point (VAULT_ACCOUNT_ID); empty for none."
  default     = ""

  validation {
    condition     = var.vault_account_id == "" || can(regex("^[0-9]{12}$", var.vault_account_id))
    error_message = "vault_account_id must be empty or a 12-digit AWS account id."
  }
}

variable "vault_event_bus_arn" {
  type        = string
  description = "The vault account's event bus in dr_region (VAULT_EVENT_BUS_ARN): the vault_account stack's output vault_event_bus_arn. Required with vault_account_id."
  default     = ""

  validation {
    condition     = var.vault_event_bus_arn == "" || can(regex("^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._/-]+$", var.vault_event_bus_arn))
    error_message = "vault_event_bus_arn must be empty or an EventBridge event bus ARN."
  }

  # Applied separately, the vault stack's bus is this one: the backup function refuses to start without it, or
  # with a bus of another account or region (smart_vault.config.vault_target), so every backup would fail.
  validation {
    condition     = var.vault_account_id == "" || var.deploy_vault_stack || can(regex("^arn:aws[a-z-]*:events:${var.dr_region}:${var.vault_account_id}:event-bus/", var.vault_event_bus_arn))
    error_message = "With vault_account_id set and deploy_vault_stack = false, vault_event_bus_arn must be the vault stack's output vault_event_bus_arn: an event bus of the vault account in dr_region."
  }
}

variable "deploy_vault_stack" {
  type        = bool
  description = "Deploy the vault account's stack (modules/vault_account) with the aws.vault provider; false when the vault account applies it separately (then set vault_event_bus_arn)."
  default     = true
}

variable "vault_role_arn" {
  type        = string
  description = "A role of the vault account that Terraform assumes to apply the vault stack (the aws.vault provider); null to use vault_profile or the default credentials."
  default     = null

  validation {
    condition     = var.vault_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.vault_role_arn))
    error_message = "vault_role_arn must be null or an IAM role ARN."
  }
}

variable "vault_profile" {
  type        = string
  description = "Named AWS profile with the vault account's credentials for the aws.vault provider; null for none."
  default     = null
}

variable "vault_key_administrator_arns" {
  type        = list(string)
  description = "Principals of the vault account that administer the vault key (only they may change its policy or schedule its deletion); include the role the vault stack is applied with."
  default     = []

  validation {
    condition     = alltrue([for a in var.vault_key_administrator_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "vault_key_administrator_arns must list IAM role or user ARNs."
  }

  # The vault key's policy has no account statement: without an administrator of the vault account nobody
  # could ever change the key's policy again (modules/vault_account requires one).
  validation {
    condition     = var.vault_account_id == "" || !var.deploy_vault_stack || (length(var.vault_key_administrator_arns) > 0 && alltrue([for a in var.vault_key_administrator_arns : try(split(":", a)[4], "") == var.vault_account_id]))
    error_message = "With the vault stack deployed (vault_account_id set, deploy_vault_stack = true), vault_key_administrator_arns must list at least one role or user, all of the vault account."
  }
}

variable "vault_recovery_role_arns" {
  type        = list(string)
  description = "Roles of the vault account that restore from the vault copies: the restore worker's and the drill's roles of the stacks deployed there (docs/vault.md). The vault key's policy lets them use it through EC2. Name them once they exist. Empty: none."
  default     = []

  validation {
    condition     = alltrue([for a in var.vault_recovery_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", a)) && try(split(":", a)[4], "") == var.vault_account_id])
    error_message = "vault_recovery_role_arns must list IAM role ARNs of the vault account (vault_account_id)."
  }
}

variable "tamper_trail_arns" {
  type        = list(string)
  description = "The CloudTrail trails of this account that the tamper rules depend on (they read the management events a trail delivers): StopLogging, DeleteTrail, UpdateTrail and PutEventSelectors on them are reported, by the rules of each trail's home region, which must be primary_region or dr_region. Empty: no trail is watched (an organization trail cannot be changed from this account)."
  default     = []

  validation {
    condition     = alltrue([for a in var.tamper_trail_arns : can(regex("^arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:[0-9]{12}:trail/.+$", a)) && contains([var.primary_region, var.dr_region], try(split(":", a)[3], ""))])
    error_message = "tamper_trail_arns must list trail ARNs homed in primary_region or dr_region (the tamper rules' regions)."
  }
}

variable "vault_tamper_trail_arns" {
  type        = list(string)
  description = "The same for the vault account's tamper rules (the stack deployed here): trails of the vault account homed in dr_region. Empty: none."
  default     = []

  validation {
    condition     = alltrue([for a in var.vault_tamper_trail_arns : can(regex("^arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:[0-9]{12}:trail/.+$", a)) && try(split(":", a)[3], "") == var.dr_region && try(split(":", a)[4], "") == var.vault_account_id])
    error_message = "vault_tamper_trail_arns must list trail ARNs of the vault account (vault_account_id) homed in dr_region."
  }
}

variable "dr_key_administrator_arns" {
  type        = list(string)
  description = "The only principals that may schedule the DR key's deletion, disable it or change its policy (an explicit Deny for everyone else); empty: no such Deny. Include the role Terraform applies with."
  default     = []

  validation {
    condition     = alltrue([for a in var.dr_key_administrator_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user|root).*$", a))])
    error_message = "dr_key_administrator_arns must list IAM ARNs."
  }
}

variable "vault_retention_days" {
  type        = number
  description = "Age in days after which vault copies may be pruned (the vault function's RETENTION_DAYS)."
  default     = 35

  validation {
    condition     = var.vault_retention_days >= 1 && var.vault_retention_days <= 3650 && floor(var.vault_retention_days) == var.vault_retention_days
    error_message = "vault_retention_days must be a whole number from 1 to 3650."
  }
}

variable "vault_lock_mode" {
  type        = string
  description = "EBS Snapshot Lock mode of every vault copy: none, governance or compliance."
  default     = "compliance"

  validation {
    condition     = contains(["none", "governance", "compliance"], var.vault_lock_mode)
    error_message = "vault_lock_mode must be none, governance or compliance."
  }
}

variable "vault_lock_cool_off_hours" {
  type        = number
  description = "Cooling-off period of the vault's compliance locks, 0 to 72 hours."
  default     = 24

  validation {
    condition     = var.vault_lock_cool_off_hours >= 0 && var.vault_lock_cool_off_hours <= 72 && floor(var.vault_lock_cool_off_hours) == var.vault_lock_cool_off_hours
    error_message = "vault_lock_cool_off_hours must be a whole number from 0 to 72."
  }
}

variable "recycle_bin_retention_days" {
  type        = number
  description = "Days a deleted ManagedBy=smart-vault snapshot stays in the Recycle Bin, in both regions and the vault account (0: no Recycle Bin rule)."
  default     = 7

  validation {
    condition     = var.recycle_bin_retention_days >= 0 && var.recycle_bin_retention_days <= 365 && floor(var.recycle_bin_retention_days) == var.recycle_bin_retention_days
    error_message = "recycle_bin_retention_days must be a whole number from 0 to 365."
  }
}
