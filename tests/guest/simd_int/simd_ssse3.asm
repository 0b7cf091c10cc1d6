; SSSE3 in long mode, MMX and XMM forms: PSHUFB, PHADD/PHSUB W/D/SW,
; PMADDUBSW, PMULHRSW, PSIGN B/W/D, PABS B/W/D, PALIGNR. Expected registers
; are those the host CPU produces running the body natively.
; SDM Vol. 1 12.9; Vol. 2 per instruction.
; mode: long
; backends: soft   (the reference /dev/kvm here emulates guests and cannot emulate MMX/SSE)
; expect: rax=0xdcba98765432107f rbx=0xd0ff4add93010dfe rcx=0x3a8b50f94a4e5188 rdx=0xbbbb444401fde1c0
; expect: r8=0x8301fe7ffe0180c0 r9=0x1031f40 r10=0x7ffe0180c0f010 r11=0x107ffe017f3f0ff0
; expect-exit: hlt
bits 64
org 0x10000
  mov rax, cr4
  bts rax, 9                   ; CR4.OSFXSR
  mov cr4, rax
; body
  lea rdi, [rel scratch]
  pcmpeqd xmm15, xmm15
  pcmpeqb mm7, mm7
  pxor xmm0, xmm0
  por xmm0, [rel va]
  pxor xmm1, xmm1
  por xmm1, [rel vb]
  pshufb xmm0, [rel shuf]
  phaddw xmm0, xmm1
  phsubsw xmm0, [rel va]
  pmaddubsw xmm0, xmm1
  pmulhrsw xmm0, [rel vb]
  psignw xmm0, [rel va]
  palignr xmm0, xmm1, 7
  maskmovdqu xmm0, xmm15
  mov rax, [rdi]
  mov rbx, [rdi+8]
  pxor xmm2, xmm2
  por xmm2, [rel vb]
  pabsb xmm3, xmm2
  pabsw xmm4, [rel va]
  pabsd xmm5, xmm2
  phaddd xmm3, xmm4
  phsubd xmm3, xmm5
  phaddsw xmm3, [rel vb]
  phsubw xmm3, xmm4
  psignb xmm3, [rel va]
  psignd xmm3, xmm2
  maskmovdqu xmm3, xmm15
  mov rcx, [rdi]
  mov rdx, [rdi+8]
  pxor mm0, mm0
  por mm0, [rel va]
  pxor mm1, mm1
  por mm1, [rel vb]
  pshufb mm0, [rel shuf]
  phaddw mm0, mm1
  phsubsw mm0, [rel va]
  pmaddubsw mm0, mm1
  pmulhrsw mm0, [rel vb]
  psignw mm0, [rel va]
  palignr mm0, mm1, 3
  maskmovq mm0, mm7
  mov r8, [rdi]
  pabsb mm2, mm1
  pabsw mm3, [rel va]
  pabsd mm4, mm1
  phaddd mm2, mm3
  phsubd mm2, mm4
  phaddsw mm2, [rel vb]
  phsubw mm2, mm3
  psignb mm2, [rel va]
  psignd mm2, mm1
  palignr mm2, [rel va], 12
  maskmovq mm2, mm7
  mov r9, [rdi]
  pxor mm5, mm5
  por mm5, [rel vb]
  palignr mm5, [rel va], 9
  maskmovq mm5, mm7
  mov r10, [rdi]
  palignr xmm1, [rel va], 17
  pabsd xmm1, xmm1
  maskmovdqu xmm1, xmm15
  mov r11, [rdi]
  emms
; end body
  hlt
; data
align 16
va: dq 0x80017f02ff102030, 0x0123456789abcdef
vb: dq 0x7ffe0180c0f01008, 0xfedcba9876543210
shuf: dq 0x0f800e0d0c83020a, 0x0102030405060708
scratch: dq 0, 0
