<?php
// Prints, as JSON, what PHP sees of msgpush's classes: parent, constants and
// every method's signature. `php reflect.php` describes the loaded extension;
// `php reflect.php STUB` describes the stub file instead (run without the
// extension, so that the stub's classes can be declared).

function signature(ReflectionClass $class): array
{
    $methods = [];
    foreach ($class->getMethods() as $method) {
        if ($method->getDeclaringClass()->getName() !== $class->getName()) {
            continue;
        }
        $params = [];
        foreach ($method->getParameters() as $param) {
            $params[] = [
                'name' => $param->getName(),
                'type' => (string) $param->getType(),
                'optional' => $param->isOptional(),
                'default' => $param->isDefaultValueAvailable() ? var_export($param->getDefaultValue(), true) : null,
                'by_reference' => $param->isPassedByReference(),
            ];
        }
        $methods[$method->getName()] = [
            'static' => $method->isStatic(),
            'public' => $method->isPublic(),
            'return' => (string) $method->getReturnType(),
            'params' => $params,
        ];
    }
    ksort($methods);
    $constants = $class->getConstants();
    ksort($constants);
    return [
        'parent' => $class->getParentClass() ? $class->getParentClass()->getName() : null,
        'final' => $class->isFinal(),
        'abstract' => $class->isAbstract(),
        'constants' => $constants,
        'methods' => $methods,
    ];
}

if (isset($argv[1])) {
    require $argv[1];
}
$classes = [];
foreach (['MsgPush\PushEvent', 'MsgPush\PushException', 'MsgPush\Auth', 'MsgPush\Group', 'MsgPush\Presence', 'MsgPush\Inbox'] as $name) {
    $classes[$name] = signature(new ReflectionClass($name));
}
echo json_encode($classes), "\n";
