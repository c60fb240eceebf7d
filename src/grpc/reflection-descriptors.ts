import { create, toBinary } from '@bufbuild/protobuf';
import type { DescFile } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import type { ReflectionService } from '@grpc/reflection';

/** What ReflectionService's constructor takes (proto-loader's type; proto-loader is not our dependency). */
export type ReflectionPackageDefinition = ConstructorParameters<typeof ReflectionService>[0];

/** `roots` and everything they import, dependencies before dependents, each file once. */
export function withDependencies(roots: readonly DescFile[]): DescFile[] {
  const ordered: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile) => {
    if (seen.has(file.proto.name)) return;
    seen.add(file.proto.name);
    file.dependencies.forEach(visit);
    ordered.push(file);
  };
  roots.forEach(visit);
  return ordered;
}

/**
 * The descriptors protobuf-es was generated from, as a serialized FileDescriptorSet (the
 * `buf build -o x.binpb` format), for tools that take a descriptor set instead of reflection.
 */
export function fileDescriptorSetBytes(roots: readonly DescFile[]): Uint8Array {
  return toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: withDependencies(roots).map((f) => f.proto) }));
}

/**
 * @grpc/reflection only reads `fileDescriptorProtos` from the PackageDefinition it is given.
 * Feeding it the original FileDescriptorProto bytes, instead of proto-loader's re-built ones
 * (which lose the import list, grpc-node #2595, so strict clients cannot resolve WKTs), keeps
 * every file's name, imports and json names as protoc wrote them.
 */
export function reflectionPackageDefinition(roots: readonly DescFile[]): ReflectionPackageDefinition {
  const fileDescriptorProtos = withDependencies(roots).map((file) => {
    const bytes = toBinary(FileDescriptorProtoSchema, file.proto);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  });
  // One entry carrying every file is enough: the reflection service indexes symbols itself.
  const carrier = { format: 'Protocol Buffer 3 FileDescriptorSet', type: {}, fileDescriptorProtos };
  return { 'cronplane.descriptors': carrier } as unknown as ReflectionPackageDefinition;
}
