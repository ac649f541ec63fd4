import org.codehaus.groovy.ast.ClassCodeExpressionTransformer
import org.codehaus.groovy.ast.ClassHelper
import org.codehaus.groovy.ast.ClassNode
import org.codehaus.groovy.ast.expr.ArgumentListExpression
import org.codehaus.groovy.ast.expr.ClassExpression
import org.codehaus.groovy.ast.expr.ClosureExpression
import org.codehaus.groovy.ast.expr.ConstantExpression
import org.codehaus.groovy.ast.expr.ConstructorCallExpression
import org.codehaus.groovy.ast.expr.Expression
import org.codehaus.groovy.ast.expr.ListExpression
import org.codehaus.groovy.ast.expr.MethodCallExpression
import org.codehaus.groovy.ast.expr.StaticMethodCallExpression
import org.codehaus.groovy.ast.expr.TupleExpression
import org.codehaus.groovy.classgen.GeneratorContext
import org.codehaus.groovy.control.CompilePhase
import org.codehaus.groovy.control.SourceUnit
import org.codehaus.groovy.control.customizers.CompilationCustomizer
import org.codehaus.groovy.runtime.InvokerHelper
import org.jenkinsci.plugins.scriptsecurity.sandbox.RejectedAccessException

import java.lang.reflect.Constructor
import java.lang.reflect.Method
import java.lang.reflect.Modifier

/**
 * The Groovy sandbox of script-security, for the constructs the library uses: every `new X(...)` and
 * every static call `X.m(...)` on a class that the script did not define itself is checked at run time
 * against the signatures of sandbox-whitelist.txt (entries of script-security's generic-whitelist, in
 * its notation: `new java.util.ArrayList java.util.Collection`, `staticMethod java.lang.String valueOf
 * java.lang.Object`). Anything else throws RejectedAccessException ("Scripts not permitted to use ..."),
 * as Jenkins does for a folder (untrusted) library or a Jenkinsfile, and is recorded in `rejections`
 * (Jenkins lists them for an administrator's approval). Instance method calls and property access are
 * not checked (the library's are plain Map/List/String calls that the whitelist permits).
 */
class Sandbox extends CompilationCustomizer {
    static volatile boolean enabled = true
    /** The loader that compiles the library and the Jenkinsfiles (their own classes are permitted). */
    static volatile ClassLoader scriptLoader
    static final List<String> rejections = Collections.synchronizedList([])
    private static Set<String> whitelist

    Sandbox() { super(CompilePhase.CANONICALIZATION) }

    static synchronized Set<String> whitelist() {
        if (whitelist == null) {
            InputStream text = Sandbox.getResourceAsStream('/sandbox-whitelist.txt')
            whitelist = text.getText('UTF-8').readLines()*.trim().findAll { it && !it.startsWith('#') } as Set
        }
        return whitelist
    }

    @Override
    void call(SourceUnit source, GeneratorContext context, ClassNode classNode) {
        new Rewriter(source: source, owner: classNode).visitClass(classNode)
    }

    /** Replaces `new X(a)` with Sandbox.construct(X, [a]) and `X.m(a)` (X a class) with Sandbox.callStatic(X, 'm', [a]). */
    static class Rewriter extends ClassCodeExpressionTransformer {
        SourceUnit source
        ClassNode owner

        SourceUnit getSourceUnit() { source }

        Expression transform(Expression e) {
            if (e instanceof ClosureExpression) {
                ((ClosureExpression) e).code.visit(this)
                return e
            }
            if (e instanceof ConstructorCallExpression && !((ConstructorCallExpression) e).isSpecialCall()) {
                ConstructorCallExpression call = (ConstructorCallExpression) e
                return check('construct', [new ClassExpression(call.type), arguments(call.arguments)], e)
            }
            if (e instanceof MethodCallExpression && ((MethodCallExpression) e).objectExpression instanceof ClassExpression &&
                    ((MethodCallExpression) e).method instanceof ConstantExpression) {
                MethodCallExpression call = (MethodCallExpression) e
                ClassNode type = call.objectExpression.type
                if (!type.isPrimaryClassNode() && (type.name.startsWith('java') || type.name.startsWith('groovy'))) {
                    return check('callStatic', [call.objectExpression, call.method, arguments(call.arguments)], e)
                }
            }
            return e.transformExpression(this)
        }

        private ListExpression arguments(Expression args) {
            List<Expression> items = args instanceof TupleExpression ? ((TupleExpression) args).expressions : [args]
            return new ListExpression(items.collect { transform(it) })
        }

        private Expression check(String method, List<Expression> args, Expression original) {
            Expression call = new StaticMethodCallExpression(ClassHelper.make(Sandbox), method, new ArgumentListExpression(args))
            call.sourcePosition = original
            return call
        }
    }

    /** Classes the script (the library, a Jenkinsfile) defined itself are always permitted, as in Jenkins. */
    private static boolean ownClass(Class type) {
        ClassLoader loader = type.classLoader
        return loader != null && (loader.is(scriptLoader) || loader instanceof GroovyClassLoader.InnerLoader && loader.parent.is(scriptLoader))
    }

    private static boolean accepts(Class[] parameters, List args) {
        if (parameters.length != args.size()) {
            return false
        }
        for (int i = 0; i < parameters.length; i++) {
            Object arg = args[i]
            Class p = parameters[i].isPrimitive() ? ClassHelper.getWrapper(ClassHelper.make(parameters[i])).typeClass : parameters[i]
            if (arg != null && !p.isInstance(arg) && !(arg instanceof GString && p.isAssignableFrom(String))) {
                return false
            }
        }
        return true
    }

    private static String names(Class[] parameters) {
        return parameters.collect { Class c -> c.isArray() ? c.componentType.name + '[]' : c.name }.join(' ')
    }

    private static void permit(List<String> candidates) {
        if (!enabled || candidates.any { whitelist().contains(it.trim()) }) {
            return
        }
        String signature = candidates ? candidates[0].trim() : 'an unknown signature'
        rejections.add(signature)
        throw new RejectedAccessException(signature)
    }

    static Object construct(Class type, List args) {
        if (!ownClass(type)) {
            List<Constructor> matching = type.constructors.findAll { accepts(it.parameterTypes, args) }
            permit(matching.collect { "new ${type.name} ${names(it.parameterTypes)}".toString() })
        }
        return InvokerHelper.invokeConstructorOf(type, args as Object[])
    }

    static Object callStatic(Class type, String name, List args) {
        if (!ownClass(type)) {
            List<Method> matching = type.methods.findAll {
                it.name == name && Modifier.isStatic(it.modifiers) && accepts(it.parameterTypes, args)
            }
            permit(matching.collect { "staticMethod ${type.name} ${name} ${names(it.parameterTypes)}".toString() })
        }
        return InvokerHelper.invokeStaticMethod(type, name, args as Object[])
    }
}
