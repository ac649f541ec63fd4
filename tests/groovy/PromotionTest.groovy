import org.junit.After
import org.junit.Test

/** Manual promotion: input outside any node, restricted to approvers, then lock + mlci promote. */
class PromotionTest {
    StepFixture f = new StepFixture()
    Map args = [model: 'breast-cancer', version: 4, approvers: ['ml-leads', 'carol'], setup: null, checkout: false]

    @After
    void cleanup() { f.cleanup() }

    @Test
    void anApproverInTheGroupPromotesWithTheirNameAndReason() {
        f.h.groups['alice'] = ['ml-leads']
        f.h.inputAnswers.add(InputAnswer.approve('alice', [REASON: 'beats prod by 0.4% AUC; "signed off" by $(whoami)']))
        f.answer('promote', [stdout: [model: 'breast-cancer', version: 4, alias: 'production', previous: 3]])
        Map out = f.h.runStep('mlciPromote', args)

        assert f.h.result == 'SUCCESS'
        assert out.approver == 'alice' && out.previous == 3
        assert f.onlyArgv() == ['promote', '--config=mlci.yaml', '--to=production', '--approver=alice',
                                '--reason=beats prod by 0.4% AUC; "signed off" by $(whoami)', '--json', '--', 'breast-cancer', '4']
        Map input = f.h.callsOf('input')[0]
        assert input.args[0].id == 'Promote'
        assert input.args[0].submitter == 'ml-leads,carol'
        assert input.args[0].submitterParameter == 'APPROVER'
        assert input.args[0].parameters*.name == ['REASON']
        assert input.node == null: 'the input must not hold an executor'
        assert f.h.callsOf('timeout')[0].args[0] == [time: 24, unit: 'HOURS']

        Map sh = f.h.shCalls.find { it.script.contains('promote') }
        assert sh.locks == ['mlci-promote-breast-cancer']
        assert sh.node == ''
        assert sh.env.MLCI_APPROVER == 'alice'
        assert sh.env.MLCI_REASON == 'beats prod by 0.4% AUC; "signed off" by $(whoami)'
        assert !sh.script.contains('alice') && !sh.script.contains('whoami') && !sh.script.contains('breast-cancer')
    }

    @Test
    void milestonesSurroundTheWaitAndThePromotion() {
        f.h.inputAnswers.add(InputAnswer.approve('carol'))
        f.h.runStep('mlciPromote', args)
        List<String> order = f.h.calls.findAll { it.step in ['milestone', 'timeout', 'input', 'lock', 'node', 'sh'] }*.step
        assert order == ['milestone', 'timeout', 'input', 'lock', 'milestone', 'node', 'sh']
        assert f.h.callsOf('milestone')[1].locks == ['mlci-promote-breast-cancer']
        assert f.onlyArgv().contains('--reason=')
    }

    @Test
    void aUserWhoIsNotAnApproverIsRefusedAndTheBuildEndsAbortedAtTheTimeout() {
        f.h.groups['mallory'] = ['developers']
        f.h.inputAnswers.add(InputAnswer.approve('mallory', [REASON: 'trust me']))
        f.h.runStep('mlciPromote', args)
        assert f.h.result == 'ABORTED'
        assert f.h.log.contains('mallory: You need to be ml-leads,carol to submit this.')
        assert f.h.log.contains('Timeout has been exceeded (24 HOURS)')
        assert f.h.log.contains('mlciPromote: breast-cancer version 4 to production was not approved (aborted, refused or timed out); nothing promoted')
        assert f.mlciCalls().isEmpty()
        assert f.h.callsOf('lock').isEmpty()
    }

    @Test
    void anApproverWhoAbortsEndsTheBuildAbortedWithNothingPromoted() {
        f.h.inputAnswers.add(InputAnswer.abort('carol'))
        f.h.runStep('mlciPromote', args)
        assert f.h.result == 'ABORTED'
        assert f.h.errorMessage == "ABORTED: input 'Promote' rejected by carol"
        assert f.mlciCalls().isEmpty()
    }

    @Test
    void nobodyAnsweringWithinTheWindowAbortsAtTheTimeout() {
        f.h.inputAnswers.add(InputAnswer.timeout())
        f.h.runStep('mlciPromote', args + [approvalTime: 30, approvalUnit: 'MINUTES'])
        assert f.h.result == 'ABORTED'
        assert f.h.errorMessage == 'ABORTED: timeout of 30 MINUTES exceeded'
        assert f.mlciCalls().isEmpty()
    }

    @Test
    void theCliRefusingAnUnblessedVersionFailsTheBuild() {
        f.h.inputAnswers.add(InputAnswer.approve('carol', [REASON: 'ship it']))
        f.answer('promote', [rc: 1, stderr: 'mlci promote: error: breast-cancer 4 is not blessed (gate roc_auc not met); use --force --reason',
                             stdout: ''])
        f.h.runStep('mlciPromote', args)
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage == 'mlciPromote: check failed: mlci promote: error: breast-cancer 4 is not blessed (gate roc_auc not met); use --force --reason'
    }

    @Test
    void promotionWithoutApproversIsRefusedBeforeAnyInput() {
        f.h.runStep('mlciPromote', [model: 'm', version: 1])
        assert f.h.errorMessage == 'mlciPromote: missing required argument(s) approvers'
        assert f.h.callsOf('input').isEmpty()
    }

    @Test
    void onTheAgentTheStepChecksOutAndSetsUpBeforePromoting() {
        f.h.inputAnswers.add(InputAnswer.approve('carol'))
        f.h.runStep('mlciPromote', args + [checkout: true, setup: [:], label: 'linux'])
        List<Map> onNode = f.h.calls.findAll { it.node == 'linux' && it.step in ['checkout', 'mlciSetup', 'sh'] }
        assert onNode*.step == ['checkout', 'mlciSetup', 'sh', 'sh']
        assert f.h.callsOf('mlciSetup')[0].args[0] == [doctor: false]
    }

    @Test
    void theCommitCheckedOutForPromotionReachesTheAuditRecord() {
        // issue 20, defect 7: outside Declarative's agents GIT_COMMIT is only in checkout's return value
        f.h.inputAnswers.add(InputAnswer.approve('carol'))
        f.h.runStep('mlciPromote', args + [checkout: true, label: 'linux'])
        assert f.h.result == 'SUCCESS'
        Map promote = f.mlciCalls().find { it.argv[0] == 'promote' }
        assert promote.env.GIT_COMMIT == f.h.scmVars.GIT_COMMIT
    }

    @Test
    void anInlineJobHasNoScmToCheckOut() {
        // the harness is as strict as Jenkins: an inline-script job has no `scm`
        f.h.inlineJob = true
        f.h.inputAnswers.add(InputAnswer.approve('carol'))
        f.h.runStep('mlciPromote', args + [checkout: true, label: 'linux'])
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage.contains("'checkout scm' is only available when using \"Multibranch Pipeline\" or \"Pipeline script from SCM\"")
    }

    @Test
    void aJenkinsAdministratorCanApproveThoughNotAnApproverAndIsRecorded() {
        // issue 20, defect 9: Overall/Administer settles any input; the audit record names who did
        f.h.admins.add('root')
        f.h.inputAnswers.add(InputAnswer.approve('root', [REASON: 'on call']))
        Map out = f.h.runStep('mlciPromote', args)
        assert f.h.result == 'SUCCESS'
        assert out.approver == 'root'
        assert f.mlciCalls()[0].env.MLCI_APPROVER == 'root'
    }
}
