import org.mlci.Defaults

/**
 * The standard mlci pipeline as a declarative pipeline: setup, checks, validate, train (on a GPU
 * agent label when asked), evaluate, then on the default branch publish, image build/verify/push,
 * an optional staging deploy, and a manual promotion outside any node (plus an optional production
 * deploy). The report is published after the build stages whatever happened. In the data-change poll job
 * (its MLCI_ON_DATA_CHANGE parameter set) it only runs mlciDataPoll, which builds that job when the data changed.
 */
void call(Map args = [:]) {
    Map cfg = Defaults.merge(this, 'mlciPipeline', [config: 'mlci.yaml', model: null, agentLabel: '', gpuLabel: null,
        defaultBranch: 'main', checks: true, validate: true, image: true, promote: true, alias: 'production',
        approvers: null, approvalTime: 24, approvalUnit: 'HOURS', nightly: false, cron: 'H 2 * * *',
        setup: [:], storeCredentialsId: null, endpoint: null, registryCredentialsId: null,
        stagingEnvironment: null, productionEnvironment: null, buildsToKeep: '30', prComment: null], args)
    if (cfg.promote) {
        Defaults.require(this, 'mlciPipeline', cfg, ['approvers'])
    }
    Map store = [storeCredentialsId: cfg.storeCredentialsId, endpoint: cfg.endpoint]
    if (params.MLCI_ON_DATA_CHANGE) {
        // The data-change poll job (`mlci jenkins apply`, jenkins.data_poll). No `pipeline {}` runs here, so none of
        // its triggers, parameters or options merge into the job: pipeline-model-definition updates job properties
        // only from ModelInterpreter.call (executeProperties -> Utils.updateJobProperties), and the job keeps the
        // timer and parameter apply gave it.
        stage('Data poll') {
            node(cfg.agentLabel) {
                checkout(scm)
                mlciSetup(cfg.setup + store)
                mlciDataPoll([config: cfg.config, job: params.MLCI_ON_DATA_CHANGE] + store)
            }
        }
        return
    }
    Map state = [published: [:], promoted: [:]]

    pipeline {
        agent none
        // No disableConcurrentBuilds: a later build would wait in the queue behind one waiting for approval;
        // the promotion's milestones and lock already serialise promotions and supersede older builds.
        options {
            buildDiscarder(logRotator(numToKeepStr: cfg.buildsToKeep))
        }
        // Declarative replaces a job's timer with the one declared here (from its second build on), so a job
        // that `mlci jenkins apply` scheduled passes its schedule in (MLCI_NIGHTLY_CRON) and keeps it.
        triggers {
            cron(cfg.nightly ? cfg.cron : (params.MLCI_NIGHTLY_CRON ?: ''))
        }
        parameters {
            booleanParam(name: 'FORCE_RETRAIN', defaultValue: false,
                description: 'Retrain even when data, code and configuration are unchanged')
        }
        stages {
            stage('Build') {
                agent { label cfg.agentLabel }
                stages {
                    stage('Setup') {
                        steps { mlciSetup(cfg.setup + store) }
                    }
                    stage('Checks') {
                        when { expression { cfg.checks as boolean } }
                        steps { mlciCheck(config: cfg.config) }
                    }
                    stage('Validate') {
                        when { expression { cfg.validate as boolean } }
                        steps { mlciValidate([config: cfg.config] + store) }
                    }
                    stage('Train') {
                        when { expression { !cfg.gpuLabel } }
                        steps { mlciTrain([config: cfg.config, force: params.FORCE_RETRAIN] + store) }
                    }
                    stage('Train (GPU)') {
                        when {
                            beforeAgent true
                            expression { cfg.gpuLabel as boolean }
                        }
                        agent { label cfg.gpuLabel }
                        steps {
                            mlciSetup(cfg.setup + store + [doctorChecks: ['gpu']])
                            mlciTrain([config: cfg.config, force: params.FORCE_RETRAIN, device: 'cuda'] + store)
                            stash(name: 'mlci-train', includes: '.mlci/runs/**')
                        }
                    }
                    stage('Evaluate') {
                        steps {
                            script {
                                if (cfg.gpuLabel) {
                                    unstash('mlci-train')
                                }
                            }
                            mlciEvaluate([config: cfg.config] + store)
                        }
                    }
                    stage('Publish') {
                        when { expression { onDefaultBranch(cfg) } }
                        steps {
                            script {
                                state.published = mlciPublish([config: cfg.config] + store)
                            }
                        }
                    }
                    stage('Image') {
                        when {
                            allOf {
                                expression { onDefaultBranch(cfg) }
                                expression { cfg.image as boolean }
                            }
                        }
                        steps {
                            mlciImage([config: cfg.config, action: 'build'] + store)
                            mlciImage([config: cfg.config, action: 'verify'] + store)
                            mlciImage([config: cfg.config, action: 'push',
                                registryCredentialsId: cfg.registryCredentialsId] + store)
                        }
                    }
                    stage('Deploy staging') {
                        when {
                            allOf {
                                expression { onDefaultBranch(cfg) }
                                expression { cfg.stagingEnvironment as boolean }
                            }
                        }
                        steps {
                            mlciDeploy([config: cfg.config, environment: cfg.stagingEnvironment,
                                registryCredentialsId: cfg.registryCredentialsId] + store)
                        }
                    }
                }
                post {
                    always {
                        mlciReport([config: cfg.config, comment: cfg.prComment] + store)
                    }
                }
            }
            stage('Promote') {
                agent none
                when {
                    allOf {
                        expression { onDefaultBranch(cfg) }
                        expression { cfg.promote as boolean }
                    }
                }
                steps {
                    script {
                        state.promoted = mlciPromote([model: state.published.name ?: cfg.model,
                            version: state.published.version, alias: cfg.alias, approvers: cfg.approvers,
                            approvalTime: cfg.approvalTime, approvalUnit: cfg.approvalUnit, config: cfg.config,
                            label: cfg.agentLabel, setup: cfg.setup] + store)
                    }
                }
            }
            stage('Deploy production') {
                when {
                    beforeAgent true
                    allOf {
                        expression { onDefaultBranch(cfg) }
                        expression { cfg.productionEnvironment && state.promoted ? true : false }
                    }
                }
                agent { label cfg.agentLabel }
                steps {
                    mlciSetup(cfg.setup + [doctor: false])
                    mlciDeploy([config: cfg.config, environment: cfg.productionEnvironment,
                        model: "${state.published.name ?: cfg.model}@${cfg.alias}",
                        registryCredentialsId: cfg.registryCredentialsId] + store)
                }
            }
        }
    }
}

/**
 * True on the default branch of a multibranch job, and in a plain Pipeline job (no BRANCH_NAME),
 * such as the nightly retraining job that `mlci jenkins apply` creates.
 */
boolean onDefaultBranch(Map cfg) {
    String branch = env.BRANCH_NAME
    return !branch || branch == cfg.defaultBranch
}
